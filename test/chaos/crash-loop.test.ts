// CI size of the crash-loop suite (npm run chaos -- --only=crash-loop [--long]).
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { crashLoop } from './suites/crash-loop.js';

t.test('kill -9 / restart under load with failing nodes: nothing acknowledged lost, nothing out of order', { timeout: 150_000 }, async (t) => {
  await runUnderTap(t, crashLoop);
});
