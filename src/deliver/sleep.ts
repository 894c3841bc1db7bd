// The senders' waits (backoff, pacing, probes) end early when the sender stops, so a
// shutdown never waits out a minute of backoff.

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
