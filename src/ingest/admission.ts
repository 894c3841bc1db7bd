// Bounds what write requests may hold at once, so a reconnect storm of many vmagents costs
// queueing, not memory. Two budgets use it:
// - bytes of request bodies being read or held (-insert.maxBufferedBytes), reserved from the
//   Content-Length before a body byte is read: a waiting request leaves its body in the
//   socket (TCP backpressure), and a slow sender reserves only what it declared;
// - inserts being processed (-maxConcurrentInserts), taken once the body is in.
// A request waits up to -insert.maxQueueDuration, in arrival order, then gets 503 with
// Retry-After and is retried by the client.

import { SpillwayError } from '../errors.js';

interface Waiter {
  units: number;
  grant: () => void;
  timer: NodeJS.Timeout;
}

export class Admission {
  private used = 0;
  private readonly waiting: Waiter[] = [];
  /** Requests refused because nothing freed up in time, since start. */
  refused = 0;

  /** `capacity` in units (slots or bytes); `what` names them in the refusal. */
  constructor(
    readonly capacity: number,
    private readonly maxQueueMs: number,
    private readonly what = 'concurrent inserts',
  ) {}

  /** Units in use. */
  get inFlight(): number {
    return this.used;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a release function once `units` are free (a request larger than the whole
   * capacity waits for all of it); throws SPW_ERR_OVERLOADED after the queue wait. When
   * `signal` aborts (the client went away) a waiting request leaves the queue and nothing
   * is ever granted to it, so no units can be held by a request nobody will release.
   */
  acquire(units = 1, signal?: AbortSignal): Promise<() => void> {
    const want = Math.min(Math.max(0, units), this.capacity);
    if (signal?.aborted) return Promise.reject(new SpillwayError('SPW_ERR_OVERLOADED', 'the client left while waiting'));
    // First come, first served: nobody overtakes a waiter, or large requests would starve.
    if (this.waiting.length === 0 && this.used + want <= this.capacity) {
      this.used += want;
      return Promise.resolve(this.releaser(want));
    }
    return new Promise((resolve, reject) => {
      const leave = (err: SpillwayError) => {
        clearTimeout(entry.timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(err);
        this.grantWaiting(); // the head may have been the one blocking smaller requests
      };
      const onAbort = () => leave(new SpillwayError('SPW_ERR_OVERLOADED', 'the client left while waiting'));
      const entry: Waiter = {
        units: want,
        grant: () => {
          clearTimeout(entry.timer);
          signal?.removeEventListener('abort', onAbort);
          this.used += want;
          resolve(this.releaser(want));
        },
        timer: setTimeout(() => {
          this.refused++;
          leave(
            new SpillwayError('SPW_ERR_OVERLOADED', `${this.what} stayed at ${this.capacity} for ${this.maxQueueMs} ms`, {
              retryAfter: Math.max(1, Math.ceil(this.maxQueueMs / 1000)),
            }),
          );
        }, this.maxQueueMs),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private releaser(units: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= units;
      this.grantWaiting();
    };
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.units <= this.capacity) this.waiting.shift()!.grant();
  }
}
