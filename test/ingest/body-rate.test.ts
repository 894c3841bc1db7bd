import { randomBytes } from 'node:crypto';
import net from 'node:net';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { request } from 'undici';
import { Admission } from '../../src/ingest/admission.js';
import { BodyRateGuard, GRACE_MS } from '../../src/ingest/body-rate.js';
import { buildServer } from '../../src/ingest/server.js';
import { WriteHandler } from '../../src/ingest/write-handler.js';
import { Lifecycle } from '../../src/observe/lifecycle.js';
import { Metrics } from '../../src/observe/metrics.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';
import { Ring } from '../../src/route/ring.js';
import { MemorySpool } from '../helpers/memory-spool.js';

/** A socket whose byte counter the test moves by hand. */
const fakeSocket = () => ({ bytesRead: 0 }) as unknown as net.Socket & { bytesRead: number };

t.test('guard: a body keeping up with the rate is left alone, one falling behind is cut once', async (t) => {
  let clock = 0;
  const g = new BodyRateGuard(1000, () => clock);
  t.teardown(() => g.tick()); // nothing left to watch afterwards either way
  const fast = fakeSocket();
  const slow = fakeSocket();
  const cuts: string[] = [];
  const stopFast = g.watch(fast, () => cuts.push('fast'));
  g.watch(slow, (received) => cuts.push(`slow:${received}`));
  for (let i = 1; i <= 12; i++) {
    clock = i * 250;
    fast.bytesRead += 300; // 1,200 bytes/s
    slow.bytesRead += 100; // 400 bytes/s
    g.tick();
  }
  // Judged from 1 s: at 1.75 s it has 700 bytes where 750 are due.
  t.same(cuts, ['slow:700'], 'the slow body is cut at the first check past the grace where it is behind');
  t.equal(g.cut, 1);
  t.equal(g.watched, 1, 'the fast body is still watched');
  stopFast();
  t.equal(g.watched, 0);
});

t.test('guard: nothing is judged during the grace, and time our own loop was stalled is not counted', async (t) => {
  let clock = 0;
  const g = new BodyRateGuard(1000, () => clock);
  const s = fakeSocket();
  let cut = false;
  const stop = g.watch(s, () => (cut = true));
  const tickTo = (until: number) => {
    while (clock < until) {
      clock += 250;
      g.tick();
    }
  };
  tickTo(GRACE_MS);
  t.notOk(cut, 'no bytes, but still within the grace');
  // The loop was blocked for 5 s: the next check comes late, and the body had no chance to be read.
  clock += 5_000;
  g.tick();
  t.notOk(cut, 'a late check is our stall, not the client\'s');
  s.bytesRead += 300;
  tickTo(clock + 250);
  t.notOk(cut, '300 bytes in the 250 ms judged so far is above 1,000 bytes/s');
  tickTo(clock + 250);
  t.ok(cut, 'then no byte for another 250 ms: behind, cut');
  stop();
  g.tick(); // nothing watched: the check timer goes
});

t.test('guard: rate 0 turns it off', async (t) => {
  const g = new BodyRateGuard(0);
  g.watch(fakeSocket(), () => t.fail('never cut'));
  t.equal(g.watched, 0);
});

function setup(t: Test, budgetBytes: number) {
  const spool = new MemorySpool('http://node-0:8428/api/v1/write');
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const writeHandler = new WriteHandler({
    ring: new Ring([spool.nodeId]),
    replicationFactor: 1,
    spools: [spool],
    nodeKinds: ['remote-write'],
    limits: { maxLabelsPerTimeseries: 10, maxLabelNameLen: 32, maxLabelValueLen: 64 },
    maxInsertRequestSize: budgetBytes,
    metrics,
  });
  const bodyBudget = new Admission(budgetBytes, 10_000, 'buffered request bytes');
  const bodyRate = new BodyRateGuard(64 * 1024);
  const app = buildServer({
    writeHandler: () => writeHandler,
    admission: new Admission(8, 1000),
    bodyBudget,
    bodyRate,
    lifecycle,
    metrics,
    logger: pino({ level: 'silent' }),
    maxInsertRequestSize: budgetBytes,
  });
  t.teardown(() => app.close());
  return { app, bodyBudget, bodyRate, metrics };
}

t.test('server: a trickling body that declared the whole budget gets 408 and its connection closed; the write queued behind it goes through', async (t) => {
  const budget = 1 << 20;
  const { app, bodyBudget, bodyRate, metrics } = setup(t, budget);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;

  const slow = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => slow.destroy());
  let answer = '';
  slow.on('data', (d) => (answer += d.toString('latin1')));
  const closed = new Promise<number>((resolve) => slow.on('close', () => resolve(performance.now())));
  await new Promise<void>((resolve) => slow.once('connect', resolve));
  const started = performance.now();
  slow.write(`POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: ${budget}\r\n\r\n`);
  slow.write(Buffer.alloc(10));
  const trickle = setInterval(() => slow.writable && slow.write('a'), 200);
  t.teardown(() => clearInterval(trickle));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(bodyBudget.inFlight, budget, 'the slow request holds the whole budget');

  const good = snappyCompress(encodeWriteRequest([{ labels: [['__name__', 'up']], samples: [[1, Date.now()]] }]));
  const res = await request(`http://127.0.0.1:${port}/api/v1/write`, { method: 'POST', body: good, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' } });
  await res.body.dump();
  const goodMs = performance.now() - started;
  t.equal(res.statusCode, 204, 'the queued write is answered 204');
  t.ok(goodMs < 10_000, `and well before the queue wait ends (${goodMs.toFixed(0)} ms)`);

  const closedAt = await closed;
  t.match(answer, /^HTTP\/1\.1 408 /, 'the slow client is told 408');
  t.match(answer, /SPW_ERR_BODY_TOO_SLOW: \d+ of 1048576 body bytes arrived in [\d.]+ s, below -insert.minBodyRate=65536/, 'with what was wrong');
  t.match(answer, /retry-after: 1/i);
  t.match(answer, /connection: close/i);
  t.ok(closedAt - started >= GRACE_MS, 'not before the grace');
  t.equal(bodyRate.cut, 1);
  const rejected = (await metrics.ingestRejected.get()).values.find((v) => v.labels.reason === 'body_too_slow')?.value;
  t.equal(rejected, 1, 'counted by reason');
  t.equal(bodyBudget.inFlight, 0, 'the budget is whole again');
  t.equal(bodyRate.watched, 0, 'nothing left watched');
});

t.test('server: a body sent at a steady pace above the rate is not cut, even past the grace', async (t) => {
  const { app, bodyRate } = setup(t, 1 << 20);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;
  // 300 KiB that snappy cannot shrink, in a metadata help text (read past, not forwarded).
  const help = randomBytes(225 * 1024).toString('base64');
  const raw = encodeWriteRequest([{ labels: [['__name__', 'up']], samples: [[1, Date.now()]] }], [{ type: 1, metricFamilyName: 'up', help }]);
  const body = snappyCompress(raw);
  const s = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => s.destroy());
  let answer = '';
  s.on('data', (d) => (answer += d.toString('latin1')));
  await new Promise<void>((resolve) => s.once('connect', resolve));
  s.write(`POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: ${body.length}\r\n\r\n`);
  const chunk = Math.ceil(body.length / 12);
  for (let off = 0; off < body.length; off += chunk) {
    s.write(body.subarray(off, off + chunk));
    await new Promise((r) => setTimeout(r, 200));
  }
  for (let i = 0; i < 50 && !answer.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(answer, /^HTTP\/1\.1 204 /, `a ${body.length}-byte body over ~2.4 s (~${Math.round(body.length / 2.4 / 1024)} KiB/s) is accepted`);
  t.equal(bodyRate.cut, 0);
});
