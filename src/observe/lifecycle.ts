// Where the process is in its life, as load balancers and orchestrators need to see it:
// alive from the start, ready only once spools are recovered and the listener is up, and
// not ready again as soon as a drain begins.

export type Phase = 'starting' | 'ready' | 'draining' | 'stopped';

export class Lifecycle {
  private phase: Phase = 'starting';
  readonly startedAt = Date.now();
  /** Why writes would be refused right now (a full spool), or undefined. */
  private blocker: () => string | undefined = () => undefined;

  get current(): Phase {
    return this.phase;
  }
  get draining(): boolean {
    return this.phase === 'draining' || this.phase === 'stopped';
  }
  /** Ready means: route traffic here. Not while a spool is full and writes would get 503. */
  ready(): boolean {
    return this.phase === 'ready' && this.blocker() === undefined;
  }

  /** What keeps a running instance from accepting writes, for /-/ready to say. */
  notReadyReason(): string {
    if (this.phase === 'starting') return 'starting: recovering spools';
    if (this.draining) return 'draining: this instance is shutting down';
    return this.blocker() ?? '';
  }

  setBlocker(blocker: () => string | undefined): void {
    this.blocker = blocker;
  }
  acceptingWrites(): boolean {
    return this.phase === 'ready' || this.phase === 'draining';
  }
  markReady(): void {
    if (this.phase === 'starting') this.phase = 'ready';
  }
  markDraining(): void {
    if (this.phase !== 'stopped') this.phase = 'draining';
  }
  markStopped(): void {
    this.phase = 'stopped';
  }
}
