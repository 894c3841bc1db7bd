import t from 'tap';
import { pino } from 'pino';
import { SpillwayError } from '../../src/errors.js';
import { PreparePool } from '../../src/ingest/prepare-pool.js';
import { WritePreparer, emptyCounts, type NodeKind, type Prepared, type Routing, type WriteInput } from '../../src/ingest/prepare.js';
import { PrepareFailure, WriteHandler } from '../../src/ingest/write-handler.js';
import { Metrics } from '../../src/observe/metrics.js';
import { MemorySpool } from '../helpers/memory-spool.js';
import { encodeWriteRequest, type SeriesInput } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';
import { Ring } from '../../src/route/ring.js';
import { RecordKind } from '../../src/spool/types.js';

const limits = { maxLabelsPerTimeseries: 10, maxLabelNameLen: 64, maxLabelValueLen: 256 };
const init = { limits, maxInsertRequestSize: 1 << 22 };
const log = pino({ level: 'silent' });
const tenant = { accountID: 3, projectID: 4 };
const now = Date.now();

function body(n: number, extraLabels = 0): Buffer {
  const series: SeriesInput[] = Array.from({ length: n }, (_, i) => ({
    labels: [['__name__', `m${i % 7}`], ['instance', `host-${i}`], ...Array.from({ length: extraLabels }, (_, k) => [`l${k}`, 'v'] as [string, string])],
    samples: [[i, now + i]],
  }));
  return snappyCompress(encodeWriteRequest(series));
}

const routing = (ids: string[], rf: number, kinds: NodeKind[] = ids.map(() => 'remote-write')): Routing => ({ ring: new Ring(ids), replicationFactor: rf, nodeKinds: kinds });

/** A snappy 1.0 body through the pool, which must take it (a worker has loaded). */
function inWorker(pool: PreparePool, b: Buffer, r: Routing, input: Partial<WriteInput> = {}): Promise<Prepared> {
  const p = pool.prepare(tenant, { body: b, encoding: 'snappy', format: 'prw1', ...input }, r);
  if (p === undefined) throw new Error('no loaded worker took the request');
  return p;
}

/** A write handler on one in-memory node that prepares through `pool` when a worker can. */
function handlerWith(pool: PreparePool) {
  const spool = new MemorySpool('a:8428');
  const handler = new WriteHandler({ ring: new Ring(['a:8428']), replicationFactor: 1, spools: [spool], nodeKinds: ['remote-write'], limits, maxInsertRequestSize: init.maxInsertRequestSize, metrics: new Metrics(), runner: pool });
  return { handler, spool };
}

t.test('a worker prepares exactly what the main thread would: same records, bytes and counts', async (t) => {
  const pool = new PreparePool(2, init, log);
  t.teardown(() => pool.close());
  await pool.ready();
  const local = new WritePreparer(limits, init.maxInsertRequestSize);
  const r = routing(['a:8428', 'b:8428', 'c:8400'], 2, ['remote-write', 'remote-write', 'vmstorage']);
  for (const b of [body(500), body(40, 12) /* every series over the label limit */, body(1)]) {
    const want = local.prepare(tenant, { body: b, encoding: 'snappy', format: 'prw1' }, r, emptyCounts());
    const got = await inWorker(pool, b, r);
    t.same(
      got.records.map((x) => ({ ...x, rec: { ...x.rec, data: x.rec.data.toString('hex') } })),
      want.records.map((x) => ({ ...x, rec: { ...x.rec, data: x.rec.data.toString('hex') } })),
    );
    for (const x of got.records) t.ok(Buffer.isBuffer(x.rec.data), 'records come back as Buffers');
    t.same({ ...got, records: [] }, { ...want, records: [] }, 'same counts and outcome');
  }
  t.ok(pool.inFlight === 0);
});

t.test('a bad body comes back as the same typed error, with what was counted', async (t) => {
  const pool = new PreparePool(1, init, log);
  t.teardown(() => pool.close());
  await pool.ready();
  const r = routing(['a:8428'], 1);
  const err = await inWorker(pool, Buffer.from('not snappy at all'), r).catch((e: unknown) => e);
  t.ok(err instanceof PrepareFailure);
  const e = (err as PrepareFailure).error;
  t.ok(e instanceof SpillwayError);
  t.equal(e.code, 'SPW_ERR_BAD_SNAPPY');
  t.equal(e.status, 400);
  const bad = await inWorker(pool, Buffer.from('{"metric":{"__name__":"x"}}\nnot json\n'), r, { encoding: 'identity', format: 'import-json' }).then(() => t.fail('accepted') as never, (x: unknown) => x as PrepareFailure);
  t.equal(bad.error.code, 'SPW_ERR_BAD_IMPORT');
  t.equal(bad.counts.importBadLines, 2, 'bad lines counted although the request failed');
});

t.test('a routing change reaches the workers before the jobs that use it', async (t) => {
  const pool = new PreparePool(2, init, log);
  t.teardown(() => pool.close());
  await pool.ready();
  const b = body(300);
  const one = routing(['a:8428'], 1);
  const three = routing(['a:8428', 'b:8428', 'c:8428'], 1);
  const [p1, p3, p1b] = await Promise.all([inWorker(pool, b, one), inWorker(pool, b, three), inWorker(pool, b, one)]);
  t.same(p1.records.map((x) => x.node), [0]);
  t.same(p3.records.map((x) => x.node), [0, 1, 2]);
  t.same(p1b.records.map((x) => x.node), [0]);
  const excl = await inWorker(pool, b, { ...three, exclude: Uint8Array.of(0, 1, 0) });
  t.same(excl.records.map((x) => x.node), [0, 2], 'an excluded node gets nothing');
  t.equal(excl.records[0]!.rec.kind, RecordKind.PrwSnappy);
});

t.test('a worker that dies fails its requests with a retryable 500 and is replaced; the pool keeps serving', async (t) => {
  let restarts = 0;
  const pool = new PreparePool(1, init, log, () => restarts++);
  t.teardown(() => pool.close());
  await pool.ready();
  const r = routing(['a:8428'], 1);
  const slot = (pool as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0]!;
  const prepared = (pool as unknown as { slots: { pending: Map<number, unknown> }[] }).slots;
  const pending = inWorker(pool, body(2000), r).catch((e: unknown) => e);
  await slot.worker.terminate();
  const err = await pending;
  // Either it was answered before the worker ended, or it failed as a retryable 500.
  if (err instanceof SpillwayError) {
    t.equal(err.code, 'SPW_ERR_INTERNAL');
    t.ok(err.retryable);
  } else t.pass('answered before the worker ended');
  // Written through a handler: prepared on the main thread until the replacement runs, then by it.
  const { handler } = handlerWith(pool);
  for (let i = 0; i < 3; i++) {
    const ok = await handler.writePrw(tenant, body(10));
    t.equal(ok.series, 10);
    await new Promise((res) => setTimeout(res, 600));
  }
  await pool.ready();
  t.equal(prepared.length, 1, 'a worker again');
  t.equal(restarts, 1, 'the restart is counted once');
  const viaWorker = inWorker(pool, body(10), r);
  t.equal(pool.inFlight, 1, 'and requests go to it');
  t.equal((await viaWorker).keptSeries, 10);
});

t.test('before a worker has loaded, requests are prepared on the main thread', async (t) => {
  const pool = new PreparePool(1, init, log);
  t.teardown(() => pool.close());
  const r = routing(['a:8428'], 1);
  t.equal(pool.prepare(tenant, { body: body(5), encoding: 'snappy', format: 'prw1' }, r), undefined, 'a worker still loading takes nothing');
  const { handler, spool } = handlerWith(pool);
  const p = handler.writePrw(tenant, body(5));
  t.equal(pool.inFlight, 0, 'not queued for a worker still loading');
  t.equal((await p).series, 5);
  t.equal(spool.records.length, 1, 'and it was spooled');
  await pool.ready();
  const q = handler.writePrw(tenant, body(5));
  t.equal(pool.inFlight, 1, 'a loaded worker takes it');
  await q;
});
