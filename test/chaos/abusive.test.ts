// CI size of the abusive-clients suite (npm run chaos -- --only=abusive [--long]).
//
// Not run in CI yet: two protections are missing (NEEDED in suites/abusive.ts): the listen
// backlog (a reconnect storm gets connection resets) and a body read deadline (slow bodies
// hold the -insert.maxBufferedBytes budget); and the budget leaks when queued writers give
// up (BUDGET_LEAK). Run it with SPILLWAY_CHAOS_ABUSIVE=1; drop the skip once they are fixed.
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { BUDGET_LEAK, NEEDED, abusive } from './suites/abusive.js';

const enabled = process.env.SPILLWAY_CHAOS_ABUSIVE === '1';

t.test(
  'slowloris, 2,000 connections and a reconnect storm: bounded memory, 2xx or 429/503 with Retry-After, throughput back after',
  { timeout: 150_000, skip: enabled ? false : `needs fixes: (1) ${NEEDED.listenBacklog}; (2) ${NEEDED.slowBodies}; (3) ${BUDGET_LEAK}` },
  async (t) => {
    await runUnderTap(t, abusive);
  },
);
