// The senders' waits (backoff, pacing, probes) end early when the sender stops, so a
// shutdown never waits out a minute of backoff.

import { connect } from 'node:net';

/** Waits `ms`, or less once `signal` aborts. Resolves false when aborted. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(!signal.aborted);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How often a node that refused connections is probed during a longer backoff. */
export const REACHABLE_PROBE_MS = 2_000;
const PROBE_CONNECT_TIMEOUT_MS = 1_000;

/** Connection errors that mean "nothing listens there (yet)", as opposed to a slow node. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export function isUnreachable(code: string | undefined): boolean {
  return code !== undefined && UNREACHABLE_CODES.has(code);
}

/**
 * The backoff after a node could not be connected to: waits `ms`, but ends early once a TCP
 * connection to `host:port` succeeds, probing every REACHABLE_PROBE_MS. A node that comes
 * back (a PMM Server after a restart) then gets its backlog within seconds instead of after
 * a backoff that has grown to -remoteWrite.retryMaxInterval. Only connection refusals are
 * probed: a node that answers slowly or with 5xx keeps its full backoff. False when aborted.
 */
export async function sleepUntilReachable(ms: number, host: string, port: number, signal: AbortSignal, probeEveryMs = REACHABLE_PROBE_MS): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    const left = end - performance.now();
    if (left <= 0) return !signal.aborted;
    if (!(await sleepUnlessAborted(Math.min(probeEveryMs, left), signal))) return false;
    if (end - performance.now() > 0 && (await canConnect(host, port, signal))) return !signal.aborted;
  }
}

function canConnect(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      s.destroy();
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), PROBE_CONNECT_TIMEOUT_MS);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
