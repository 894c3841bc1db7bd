import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Admission } from '../../src/ingest/admission.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildServer, listenBacklog } from '../../src/ingest/server.js';
import { WriteHandler, type NodeKind } from '../../src/ingest/write-handler.js';
import { decodeMetricRows } from '../../src/protocol/vmstorage/metric-row.js';
import { RecordKind } from '../../src/spool/types.js';
import { Lifecycle } from '../../src/observe/lifecycle.js';
import { Metrics } from '../../src/observe/metrics.js';
import { encodeWriteRequest, type SeriesInput } from '../../src/protocol/prw/encode.js';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';
import { Ring } from '../../src/route/ring.js';
import { MemorySpool } from '../helpers/memory-spool.js';

const now = Date.now();
const series = (name: string, extra: [string, string][] = [], samples = 1): SeriesInput => ({
  labels: [['__name__', name], ['instance', 'db-1:9100'], ['job', 'node'], ...extra],
  samples: Array.from({ length: samples }, (_, i) => [i + 0.5, now + i * 1000] as const),
});
const body = (s: SeriesInput[]) => snappyCompress(encodeWriteRequest(s));

function setup(t: Test, opts: { nodes?: number; rf?: number; max?: number; kinds?: NodeKind[]; exclusion?: () => Uint8Array | undefined; admission?: Admission } = {}) {
  const ids = Array.from({ length: opts.nodes ?? 1 }, (_, i) => `http://node-${i}:8428/api/v1/write`);
  const spools = ids.map((id) => new MemorySpool(id));
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const max = opts.max ?? 1 << 20;
  const writeHandler = new WriteHandler({
    ring: new Ring(ids),
    replicationFactor: opts.rf ?? 1,
    spools,
    nodeKinds: opts.kinds ?? ids.map(() => 'remote-write' as const),
    ...(opts.exclusion ? { exclusion: opts.exclusion } : {}),
    limits: { maxLabelsPerTimeseries: 10, maxLabelNameLen: 32, maxLabelValueLen: 64 },
    maxInsertRequestSize: max,
    metrics,
  });
  const app = buildServer({ writeHandler: () => writeHandler, admission: opts.admission ?? new Admission(64, 1000), lifecycle, metrics, logger: pino({ level: 'silent' }), maxInsertRequestSize: max });
  t.teardown(() => app.close());
  const post = (url: string, payload: Buffer, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', ...headers } });
  const rejected = async (reason: string) =>
    (await metrics.ingestRejected.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { app, spools, metrics, lifecycle, post, rejected };
}

/** Series (as label objects) stored in a spool, decoded back from the snappy records. */
function stored(spool: MemorySpool) {
  const out: { tenant: string; labels: Record<string, string> }[] = [];
  for (const r of spool.records) {
    const view = new PrwDecoder({ maxLabelsPerTimeseries: 1000, maxLabelNameLen: 1e6, maxLabelValueLen: 1e6 }).decode(snappyUncompress(r.data, 1 << 24));
    for (let i = 0; i < view.seriesCount; i++) {
      const o = seriesToObject(view, i);
      out.push({ tenant: `${r.accountID}:${r.projectID}`, labels: Object.fromEntries(o.labels) });
    }
  }
  return out;
}

t.test('every write path accepts remote-write and spools it, with the tenant from the path', async (t) => {
  const { post, spools } = setup(t);
  const paths: [string, string][] = [
    ['/api/v1/write', '0:0'],
    ['/prometheus/api/v1/write', '0:0'],
    ['/victoriametrics/api/v1/write', '0:0'],
    ['/insert/7/prometheus/api/v1/write', '7:0'],
    ['/insert/7:3/prometheus/api/v1/write', '7:3'],
    ['/insert/4294967295:1/prometheus', '4294967295:1'],
  ];
  for (const [p] of paths) {
    const res = await post(p, body([series('up', [['path', p]])]));
    t.equal(res.statusCode, 204, p);
  }
  const got = stored(spools[0]!);
  t.same(got.map((g) => [g.labels.path, g.tenant]), paths);
  t.equal(spools[0]!.records[0]!.samples, 1);
});

t.test('replication: each series lands on rf distinct nodes', async (t) => {
  const { post, spools } = setup(t, { nodes: 3, rf: 2 });
  const many = Array.from({ length: 60 }, (_, i) => series('m', [['i', String(i)]]));
  t.equal((await post('/api/v1/write', body(many))).statusCode, 204);
  const copies = new Map<string, number>();
  for (const s of spools) for (const g of stored(s)) copies.set(g.labels.i!, (copies.get(g.labels.i!) ?? 0) + 1);
  t.equal(copies.size, 60);
  t.ok([...copies.values()].every((n) => n === 2), 'two copies each');
  t.ok(spools.every((s) => s.records.length === 1), 'one record per node per request');
});

t.test('malformed bodies get 400 with what was wrong, are counted, and the server keeps serving', async (t) => {
  const { post, rejected, spools } = setup(t);
  const badSnappy = await post('/api/v1/write', Buffer.from('definitely not snappy'));
  t.equal(badSnappy.statusCode, 400);
  t.match(badSnappy.body, /^SPW_ERR_BAD_SNAPPY: /);
  const badProto = await post('/api/v1/write', snappyCompress(Buffer.from([0x0a, 0x50, 0x01])));
  t.equal(badProto.statusCode, 400);
  t.match(badProto.body, /^SPW_ERR_BAD_PROTOBUF: .*offset/);
  const empty = await post('/api/v1/write', Buffer.alloc(0));
  t.equal(empty.statusCode, 400);
  t.equal(await rejected('bad_snappy'), 1);
  t.equal(await rejected('bad_protobuf'), 1);
  t.equal(spools[0]!.records.length, 0, 'nothing spooled from bad input');
  t.equal((await post('/api/v1/write', body([series('up')]))).statusCode, 204, 'still serving');
});

t.test('unsupported encodings and message types get 415', async (t) => {
  const { post, rejected } = setup(t);
  // zstd and remote-write 2.0 are accepted since issue 7 (see the protocol tests below).
  const gzip = await post('/api/v1/write', body([series('up')]), { 'content-encoding': 'gzip' });
  t.equal(gzip.statusCode, 415);
  t.match(gzip.body, /SPW_ERR_UNSUPPORTED_ENCODING/);
  const other = await post('/api/v1/write', body([series('up')]), { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' });
  t.equal(other.statusCode, 415);
  t.equal(await rejected('unsupported_encoding'), 1);
  t.equal(await rejected('unsupported_media_type'), 1);
});

t.test('oversized bodies get 413, by length and by declared uncompressed size', async (t) => {
  const { post } = setup(t, { max: 4096 });
  const big = await post('/api/v1/write', Buffer.alloc(8192, 1));
  t.equal(big.statusCode, 413);
  t.match(big.body, /SPW_ERR_BODY_TOO_LARGE/);
  // A small body that declares a 64 KiB uncompressed size.
  const bomb = snappyCompress(Buffer.alloc(65536));
  t.ok(bomb.length < 4096);
  const res = await post('/api/v1/write', bomb);
  t.equal(res.statusCode, 413);
  t.match(res.body, /SPW_ERR_DECOMPRESSED_TOO_LARGE/);
});

t.test('series over the limits are dropped alone and counted; the rest is accepted', async (t) => {
  const { post, spools, metrics } = setup(t);
  const tooMany = series('wide', Array.from({ length: 12 }, (_, i) => [`l${String(i).padStart(2, '0')}`, 'v'] as [string, string]));
  const longName = series('longname', [['x'.repeat(33), 'v']]);
  const longValue = series('longvalue', [['v', 'y'.repeat(65)]]);
  const res = await post('/api/v1/write', body([series('ok1'), tooMany, longName, longValue, series('ok2')]));
  t.equal(res.statusCode, 204);
  t.same(stored(spools[0]!).map((g) => g.labels.__name__), ['ok1', 'ok2']);
  const dropped = Object.fromEntries((await metrics.droppedSeries.get()).values.map((v) => [v.labels.reason, v.value]));
  t.same(dropped, { too_many_labels: 1, label_name_too_long: 1, label_value_too_long: 1 });
});

t.test('a bad tenant is a 400 that shows the expected form', async (t) => {
  const { post } = setup(t);
  const res = await post('/insert/abc/prometheus/api/v1/write', body([series('up')]));
  t.equal(res.statusCode, 400);
  t.match(res.body, /accountID>:<projectID>/);
});

t.test('a full spool answers 503 with Retry-After and appends to no node', async (t) => {
  const { post, spools } = setup(t, { nodes: 2, rf: 2 });
  spools[1]!.full = true;
  const res = await post('/api/v1/write', body([series('up')]));
  t.equal(res.statusCode, 503);
  t.ok(res.headers['retry-after']);
  t.equal(spools[0]!.records.length + spools[1]!.records.length, 0);
});

t.test('vmagent protocol handshake: "1" when zstd decoding is available', async (t) => {
  const { app } = setup(t);
  const res = await app.inject({ method: 'POST', url: '/api/v1/write?get_vm_proto_version=1' });
  t.equal(res.statusCode, 200);
  t.equal(res.body, '1');
});

t.test('not ready: writes get 503 and are retried by the client', async (t) => {
  const { post, lifecycle, spools } = setup(t);
  (lifecycle as unknown as { phase: string }).phase = 'starting';
  const res = await post('/api/v1/write', body([series('up')]));
  t.equal(res.statusCode, 503);
  t.match(res.body, /SPW_ERR_NOT_READY/);
  t.equal(spools[0]!.records.length, 0);
});

t.test('a vmstorage node gets MetricRows, built once at ingest, with the tenant inside', async (t) => {
  const { post, spools } = setup(t, { nodes: 2, rf: 2, kinds: ['remote-write', 'vmstorage'] });
  const res = await post('/insert/5:6/prometheus/api/v1/write', body([series('up', [], 2), series('down', [['empty', '']])]));
  t.equal(res.statusCode, 204);
  t.equal(spools[0]!.records[0]!.kind, RecordKind.PrwSnappy);
  const rec = spools[1]!.records[0]!;
  t.equal(rec.kind, RecordKind.VmstorageRows);
  t.equal(rec.samples, 3);
  const rows = decodeMetricRows(rec.data);
  t.equal(rows.length, 3, 'one row per sample');
  t.same(rows.map((r) => [r.accountID, r.projectID]), [[5, 6], [5, 6], [5, 6]]);
  const names = rows.map((r) => r.labels.map((l) => `${l.name.toString()}=${l.value.toString()}`).join(','));
  t.same(names[0], '=up,instance=db-1:9100,job=node', 'metric name under the empty label name');
  t.notMatch(names[2]!, /empty=/, 'empty-valued labels are not sent');
});

t.test('-rerouteOnUnavailable: an unavailable node gets none of the new data', async (t) => {
  const down = new Uint8Array([1, 0, 0]);
  const { post, spools } = setup(t, { nodes: 3, rf: 1, exclusion: () => down });
  const many = Array.from({ length: 60 }, (_, i) => series('m', [['i', String(i)]]));
  t.equal((await post('/api/v1/write', body(many))).statusCode, 204);
  t.equal(spools[0]!.records.length, 0);
  t.equal(stored(spools[1]!).length + stored(spools[2]!).length, 60);
});

t.test('more concurrent inserts than -maxConcurrentInserts wait, then get 503 with Retry-After', async (t) => {
  const { post, spools, rejected } = setup(t, { admission: new Admission(1, 100) });
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const append = spools[0]!.append.bind(spools[0]!);
  spools[0]!.append = async (rec) => {
    await gate;
    return append(rec);
  };
  const first = post('/api/v1/write', body([series('a')]));
  await new Promise((r) => setTimeout(r, 20));
  const second = await post('/api/v1/write', body([series('b')]));
  t.equal(second.statusCode, 503);
  t.match(second.body, /SPW_ERR_OVERLOADED/);
  t.ok(second.headers['retry-after']);
  t.equal(await rejected('overloaded'), 1);
  open();
  t.equal((await first).statusCode, 204, 'the admitted request completes');
  t.equal((await post('/api/v1/write', body([series('c')]))).statusCode, 204, 'and the slot is free again');
});

t.test('a path fastify cannot decode gets a SPW_ERR_ 400 and is counted', async (t) => {
  const { app, rejected } = setup(t);
  const res = await app.inject({ method: 'POST', url: '/insert/%E0%A4%A/prometheus/api/v1/write', payload: body([series('x')]) });
  t.equal(res.statusCode, 400);
  t.match(res.body, /^SPW_ERR_BAD_PATH: /);
  t.equal(await rejected('bad_path'), 1);
});

t.test('listen backlog: the kernel\'s somaxconn when readable and above Node\'s 511, else 511', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spw-backlog-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (text: string) => {
    const p = path.join(dir, `somaxconn-${text.length}-${Math.random()}`);
    writeFileSync(p, text);
    return p;
  };
  t.equal(listenBacklog(file('4096\n')), 4096);
  t.equal(listenBacklog(file('128\n')), 511, 'an older kernel\'s 128: Node\'s default is kept');
  t.equal(listenBacklog(file('garbage')), 511);
  t.equal(listenBacklog(path.join(dir, 'missing')), 511, 'not Linux');
});
