// CI size of the abusive-clients suite (npm run chaos -- --only=abusive [--long]).
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { abusive } from './suites/abusive.js';

t.test('slowloris, 2,000 connections and a reconnect storm: bounded memory, 2xx or 429/503 with Retry-After, throughput back after', { timeout: 150_000 }, async (t) => {
  await runUnderTap(t, abusive);
});
