// CI size of the abusive-clients suite (npm run chaos -- --only=abusive [--long]).
//
// Not run in CI yet: Spillway buffers every request body in full before it waits for an
// insert slot, so a reconnect storm's memory grows with the number of clients (see NEEDED in
// suites/abusive.ts). Run it with SPILLWAY_CHAOS_ABUSIVE=1; drop the skip once that is fixed.
import t from 'tap';
import { runUnderTap } from './lib/tap.js';
import { NEEDED, abusive } from './suites/abusive.js';

const enabled = process.env.SPILLWAY_CHAOS_ABUSIVE === '1';

t.test(
  'slowloris, 2,000 connections and a reconnect storm: bounded memory, 2xx or 429/503 with Retry-After, throughput back after',
  { timeout: 150_000, skip: enabled ? false : `needs a protection Spillway lacks: ${NEEDED.admissionBeforeBody}` },
  async (t) => {
    await runUnderTap(t, abusive);
  },
);
