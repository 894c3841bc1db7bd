import t from 'tap';
import net from 'node:net';
import { sleepUnlessAborted, sleepUntilReachable } from '../../src/deliver/sleep.js';

t.test('a sleep runs its time out when nothing aborts it', async (t) => {
  const started = performance.now();
  t.equal(await sleepUnlessAborted(50, new AbortController().signal), true);
  t.ok(performance.now() - started >= 45);
});

t.test('an abort ends a long sleep at once with false, and an aborted signal does not sleep', async (t) => {
  const ac = new AbortController();
  const started = performance.now();
  const p = sleepUnlessAborted(60_000, ac.signal);
  setTimeout(() => ac.abort(), 20);
  t.equal(await p, false);
  t.ok(performance.now() - started < 5_000, 'not the full minute');
  t.equal(await sleepUnlessAborted(60_000, ac.signal), false);
});

/** A port with nothing listening on it. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

t.test('reachability backoff: runs its time out while nothing listens', async (t) => {
  const port = await freePort();
  const started = performance.now();
  t.equal(await sleepUntilReachable(400, '127.0.0.1', port, new AbortController().signal, 100), true);
  t.ok(performance.now() - started >= 390, 'the whole backoff');
});

t.test('reachability backoff: ends at the first probe after the node listens again', async (t) => {
  const port = await freePort();
  const server = net.createServer((c) => c.destroy());
  t.teardown(() => new Promise((r) => server.close(r)));
  setTimeout(() => server.listen(port, '127.0.0.1'), 300);
  const started = performance.now();
  t.equal(await sleepUntilReachable(30_000, '127.0.0.1', port, new AbortController().signal, 100), true);
  const ms = performance.now() - started;
  t.ok(ms >= 300 && ms < 5_000, `ended after ${ms.toFixed(0)} ms of a 30 s backoff`);
});

t.test('reachability backoff: an abort ends it with false', async (t) => {
  const port = await freePort();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 150);
  const started = performance.now();
  t.equal(await sleepUntilReachable(30_000, '127.0.0.1', port, ac.signal, 100), false);
  t.ok(performance.now() - started < 5_000);
});
