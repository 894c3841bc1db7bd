import t from 'tap';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { rehomeOrphans } from '../../src/ingest/rehome.js';
import { WriteHandler, type NodeKind } from '../../src/ingest/write-handler.js';
import { Metrics } from '../../src/observe/metrics.js';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { encodeWriteRequest, type SeriesInput } from '../../src/protocol/prw/encode.js';
import { snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';
import { Ring } from '../../src/route/ring.js';
import { closeSpools, openSpools } from '../../src/spool/spool-set.js';
import { RecordKind, type NodeSpool, type SpoolOptions } from '../../src/spool/types.js';

const limits = { maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 };
const log = pino({ level: 'silent' });
const now = Date.now();
const series = (i: number): SeriesInput => ({ labels: [['__name__', 'm'], ['i', String(i)]], samples: [[i, now]] });

function handler(ids: string[], spools: NodeSpool[], kinds: NodeKind[] = ids.map(() => 'remote-write' as const)) {
  return new WriteHandler({ ring: new Ring(ids), replicationFactor: 1, spools, nodeKinds: kinds, limits, maxInsertRequestSize: 1 << 24, metrics: new Metrics() });
}

async function seriesIn(spool: NodeSpool): Promise<string[]> {
  const out: string[] = [];
  for (let off = spool.readOffset; ; ) {
    const rec = await spool.read(off);
    if (!rec) break;
    t.equal(rec.kind, RecordKind.PrwSnappy);
    const view = new PrwDecoder(limits).decode(snappyUncompress(rec.data, 1 << 24));
    for (let i = 0; i < view.seriesCount; i++) out.push(`${rec.accountID}:${seriesToObject(view, i).labels[1]![1]}`);
    off = rec.nextOffset;
  }
  return out;
}

t.test('a removed node queue is re-routed through the new ring, then deleted', async (t) => {
  const dir = t.testdir();
  const opts: SpoolOptions = { path: dir, segmentSize: 1 << 20, fsync: 'always', maxDiskUsagePerNode: 0, maxAgeMs: 0, onFull: 'reject', memoryCacheBytes: 1 << 20 };
  const three = ['http://a/w', 'http://b/w', 'vmstorage-c:8400'];
  // First life: three nodes, the third native; the senders never ran, so everything is pending.
  const first = await openSpools(opts, three, log);
  const h1 = handler(three, three.map((id) => first.spools.get(id)!), ['remote-write', 'remote-write', 'vmstorage']);
  for (let r = 0; r < 5; r++) {
    await h1.writePrw({ accountID: r, projectID: 1 }, snappyCompress(encodeWriteRequest(Array.from({ length: 30 }, (_, k) => series(r * 30 + k)))));
  }
  const removedPending = first.spools.get('vmstorage-c:8400')!.stats().pendingSamples;
  t.ok(removedPending > 0, `${removedPending} samples pending on the node about to be removed`);
  const before = new Map<string, string[]>();
  for (const id of three.slice(0, 2)) before.set(id, await seriesIn(first.spools.get(id)!));
  await closeSpools(first);

  // Second life: the native node is gone.
  const two = three.slice(0, 2);
  const second = await openSpools(opts, two, log);
  t.equal(second.reports.orphaned.length, 1);
  t.equal(second.reports.orphaned[0]!.node, 'vmstorage-c:8400');
  const spools = two.map((id) => second.spools.get(id)!);
  const reports = await rehomeOrphans(second.reports.orphaned, opts, handler(two, spools), log, new AbortController().signal);
  t.same(reports.map((r) => [r.samples, r.failedRecords, r.removed]), [[removedPending, 0, true]]);
  t.notOk(existsSync(second.reports.orphaned[0]!.dir), 'emptied queue removed');

  const after = [...(await seriesIn(spools[0]!)), ...(await seriesIn(spools[1]!))];
  t.equal(after.length, 150, 'every series is on a remaining node exactly once');
  t.equal(new Set(after).size, 150);
  for (const id of two) {
    const kept = await seriesIn(second.spools.get(id)!);
    t.same(kept.slice(0, before.get(id)!.length), before.get(id), `${id} keeps its own series first, in order`);
  }
  await closeSpools(second);
});
