// Retry timing for a node that fails: exponential with jitter, so many Spillway replicas
// retrying one recovered node do not arrive in lockstep; a node's Retry-After wins.

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; `retryAfterMs` from the node overrides the schedule. */
  next(retryAfterMs?: number): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, Math.max(this.maxMs, 5 * 60_000));
    // Jitter in [base/2, base): keeps the growth but spreads retries out.
    return Math.round(base / 2 + (this.random() * base) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Parses Retry-After: delay seconds or an HTTP date. Returns ms, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
