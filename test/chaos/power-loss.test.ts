// CI size of the power-loss suite (npm run chaos -- --only=power-loss [--long]).
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { powerLoss } from './suites/power-loss.js';

t.test('power loss cuts un-synced writes: fsync=always keeps every acknowledged append, an interval loses at most its window', { timeout: 120_000 }, async (t) => {
  await runUnderTap(t, powerLoss);
});
