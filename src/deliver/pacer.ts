// Paces delivery to a node at -replay.maxSamplesPerSecond, so a node returning from an
// outage receives its backlog at a rate it can take. A token bucket with one second of burst.

export class Pacer {
  private tokens: number;
  private last = -1;

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  /** Milliseconds to wait before sending `samples`; 0 when it may go now. Consumes the tokens. */
  delayFor(samples: number, now = Date.now()): number {
    if (this.perSecond <= 0) return 0;
    if (this.last >= 0) this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= samples;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000);
  }
}
