import t from 'tap';
import { Backoff, parseRetryAfter } from '../../src/deliver/backoff.js';
import { Pacer } from '../../src/deliver/pacer.js';

t.test('backoff doubles within jitter and caps at the max', async (t) => {
  const lo = new Backoff(1000, 8000, () => 0);
  t.same([lo.next(), lo.next(), lo.next(), lo.next(), lo.next()], [500, 1000, 2000, 4000, 4000]);
  const hi = new Backoff(1000, 8000, () => 0.999999);
  const seq = [hi.next(), hi.next(), hi.next(), hi.next(), hi.next()];
  t.ok(seq.every((v, i) => v <= Math.min(8000, 1000 * 2 ** i)), `${seq}`);
  hi.reset();
  t.equal(hi.attempts, 0);
});

t.test('Retry-After wins over the schedule', async (t) => {
  const b = new Backoff(1000, 8000, () => 0);
  t.equal(b.next(30_000), 30_000);
  t.equal(parseRetryAfter('7'), 7000);
  t.equal(parseRetryAfter(new Date(Date.now() + 3000).toUTCString(), Date.now()) ! > 1000, true);
  t.equal(parseRetryAfter('soon'), undefined);
  t.equal(parseRetryAfter(undefined), undefined);
});

t.test('pacer holds delivery to the configured samples per second', async (t) => {
  const p = new Pacer(1000);
  const now = 1_000_000;
  t.equal(p.delayFor(1000, now), 0, 'one second of burst');
  t.equal(p.delayFor(500, now), 500, 'then waits for tokens');
  t.equal(new Pacer(0).delayFor(1e9), 0, '0 = unpaced');
});
