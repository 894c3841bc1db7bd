// Bounds the inserts processed at once (-maxConcurrentInserts), so a reconnect storm of
// many vmagents costs queueing, not memory. A request waits for a slot up to
// -insert.maxQueueDuration, then gets 503 with Retry-After and is retried by the client.
// Slots are taken after the body is read, so slow senders hold a socket, never a slot.

import { SpillwayError } from '../errors.js';

export class Admission {
  private active = 0;
  private readonly waiting: { grant: () => void; timer: NodeJS.Timeout }[] = [];
  /** Requests refused because no slot freed up in time, since start. */
  refused = 0;

  constructor(
    readonly maxConcurrent: number,
    private readonly maxQueueMs: number,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; throws SPW_ERR_OVERLOADED after the queue wait. */
  acquire(): Promise<() => void> {
    if (this.active < this.maxConcurrent) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          clearTimeout(entry.timer);
          this.active++;
          resolve(this.releaser());
        },
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          this.refused++;
          reject(
            new SpillwayError('SPW_ERR_OVERLOADED', `more than ${this.maxConcurrent} concurrent inserts for ${this.maxQueueMs} ms`, {
              retryAfter: Math.max(1, Math.ceil(this.maxQueueMs / 1000)),
            }),
          );
        }, this.maxQueueMs),
      };
      this.waiting.push(entry);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      const next = this.waiting.shift();
      if (next) next.grant();
    };
  }
}
