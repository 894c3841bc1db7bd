// CI size of the bad-input suite (npm run chaos -- --only=bad-input [--long]).
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { badInput } from './suites/bad-input.js';

t.test('20,000 generated bad bodies across every decoder: no crash, documented answers, bounded memory', { timeout: 120_000 }, async (t) => {
  await runUnderTap(t, badInput);
});
