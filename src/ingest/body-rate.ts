// Keeps a write whose body trickles in from holding its share of -insert.maxBufferedBytes.
// A request reserves its declared Content-Length before its body is read (admission.ts), so
// two clients declaring 32 MiB and sending a byte a second would otherwise hold the whole
// budget, and every other write would queue behind them until the request timeout.
//
// The rule: once admitted, a body must arrive at -insert.minBodyRate on average, counted
// from one second after admission (the grace covers connection warm-up and the first
// round trips). A body that falls behind is answered 408 and its reservation released; the
// client retries it, as vmagent does for anything but 400/409/415.
//
// Progress is read from the socket's byte counter, not from the body stream: listening to
// the stream here would take bytes from fastify's own body reader.

import type { Socket } from 'node:net';

/** A body gets this long after admission before its rate is judged. */
export const GRACE_MS = 1_000;
/** How often bodies being read are checked. */
const TICK_MS = 250;
/** A check this much later than due means our own event loop was busy. */
const LATE_SLACK_MS = 50;

interface Reading {
  socket: Socket;
  startBytes: number;
  admittedAt: number;
  /** Time our own event loop was stalled while this body was read: not the client's fault. */
  stalledMs: number;
  tooSlow: (receivedBytes: number, elapsedMs: number) => void;
}

export class BodyRateGuard {
  private readonly reading = new Set<Reading>();
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  /** Bodies cut for arriving too slowly, since start. */
  cut = 0;

  /** `bytesPerSecond` 0 turns the guard off. */
  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Starts watching a body being read on `socket`; `tooSlow` is called once if it falls
   * behind. The returned function stops watching (body read, answered, or client gone).
   */
  watch(socket: Socket, tooSlow: Reading['tooSlow']): () => void {
    if (this.bytesPerSecond <= 0) return () => {};
    const r: Reading = { socket, startBytes: socket.bytesRead, admittedAt: this.now(), stalledMs: 0, tooSlow };
    this.reading.add(r);
    if (this.timer === null) {
      this.lastTick = this.now();
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    }
    return () => this.stop(r);
  }

  get watched(): number {
    return this.reading.size;
  }

  /** One check of every body being read; exposed for tests. */
  tick(): void {
    if (this.reading.size === 0) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const now = this.now();
    // A tick that comes late means this process, not the clients, was busy: the bytes may
    // sit unread in the socket. Such a round judges nobody, and its time counts against no one.
    const interval = now - this.lastTick;
    this.lastTick = now;
    const stalled = interval > TICK_MS + LATE_SLACK_MS;
    // (Deleting the entry being visited is safe while iterating a Set.)
    for (const r of this.reading) {
      if (stalled) {
        r.stalledMs += interval;
        continue;
      }
      const judged = now - r.admittedAt - r.stalledMs - GRACE_MS;
      if (judged <= 0) continue;
      const received = r.socket.bytesRead - r.startBytes;
      if (received >= (this.bytesPerSecond * judged) / 1000) continue;
      this.stop(r);
      this.cut++;
      r.tooSlow(received, now - r.admittedAt);
    }
  }

  private stop(r: Reading): void {
    // The timer stays until a check finds nothing to watch: under steady traffic bodies come
    // and go thousands of times a second, and re-arming it for each would cost more than a check.
    this.reading.delete(r);
  }
}
