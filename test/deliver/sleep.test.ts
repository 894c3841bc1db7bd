import t from 'tap';
import { sleepUnlessAborted } from '../../src/deliver/sleep.js';

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
