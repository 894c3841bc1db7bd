// CI size of the downstream-faults suite (npm run chaos -- --only=downstream [--long]).
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { downstream } from './suites/downstream.js';

t.test('slow, flapping, 500/429, resetting and refusing nodes: the rest unaffected, the refused record set aside and counted', { timeout: 90_000 }, async (t) => {
  await runUnderTap(t, downstream);
});
