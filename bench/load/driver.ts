// The load driver: sends generated bodies to one remote-write endpoint over an undici Pool,
// one lane per connection with one request in flight per lane (so each series reaches the
// proxy in order), closed loop (as fast as acknowledgements come back) or open loop (at a
// target rate; a request that cannot start on time waits in its lane, and its latency counts
// from when it should have started, so a slow proxy cannot hide its queueing).
//
// Like vmagent, a request is retried on 429, 5xx, timeouts and connection errors (backoff
// doubling from retryMinMs to retryMaxMs, Retry-After honoured up to retryMaxMs) and dropped
// on other 4xx. A sample counts as acknowledged only when its request got 204. Bounded: a
// phase stops starting requests at its deadline or request count, gives in-flight ones
// `drainMs` to finish, then aborts them; a lane keeps an unfinished body and sends it first
// in the next phase.
import { setMaxListeners } from 'node:events';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { isLoopback } from '../../test/integration/helpers/procs.js';
import type { Body, GeneratorClient } from './gen-client.js';

export interface DriverOptions {
  name: string;
  url: string;
  gen: GeneratorClient;
  retryMinMs: number;
  retryMaxMs: number;
  requestTimeoutMs: number;
}

export interface PhaseOptions {
  mode: 'closed' | 'open';
  /** Open loop: samples per second over all lanes. */
  rate?: number;
  durationMs: number;
  /** Stop starting requests after this many (default: no limit besides time). */
  maxRequests?: number;
  /** How long in-flight requests may still take (retries included) after the deadline. */
  drainMs: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface DriverCounters {
  requestsStarted: number;
  attempts: number;
  ackedRequests: number;
  ackedSamples: number;
  ackedRawBytes: number;
  ackedBodyBytes: number;
  /** Requests dropped after a 4xx other than 429 (vmagent drops them too). */
  rejectedRequests: number;
  rejectedSamples: number;
  /** Open loop: requests that could not even be queued (lane backlog full). */
  missed: number;
  /** Retried attempts by reason: HTTP status or error code. */
  retries: Record<string, number>;
  /** Final status of dropped requests. */
  rejectedByStatus: Record<string, number>;
  inFlight: number;
}

const HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
  'user-agent': 'spillway-bench',
};

const MAX_LANE_QUEUE = 8;

export function newHistogram(): hdr.Histogram {
  // Microseconds, 1 µs to 10 min, 3 significant digits.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

export function summarize(h: hdr.Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

interface Lane {
  index: number;
  pending: Body | null;
  /** Open loop: scheduled start times (performance.now ms) waiting for this lane. */
  tokens: number[];
  wake: (() => void) | null;
}

export class LoadDriver {
  readonly name: string;
  readonly #opts: DriverOptions;
  readonly #pool: Pool;
  readonly #path: string;
  readonly #lanes: Lane[];
  /** Highest acknowledged seq per series id (-1: none). */
  #acked = new Int32Array(1 << 16).fill(-1);
  /** (id, seq) pairs of dropped requests. */
  #excluded: number[] = [];
  readonly counters: DriverCounters = {
    requestsStarted: 0,
    attempts: 0,
    ackedRequests: 0,
    ackedSamples: 0,
    ackedRawBytes: 0,
    ackedBodyBytes: 0,
    rejectedRequests: 0,
    rejectedSamples: 0,
    missed: 0,
    retries: {},
    rejectedByStatus: {},
    inFlight: 0,
  };
  /** Ack latency: from the (scheduled) start to the 204, retries included. */
  readonly latency = newHistogram();
  /** Latency of single successful attempts (service time). */
  readonly attemptLatency = newHistogram();
  /** The same two, for the last (or current) phase only. */
  phaseLatency = newHistogram();
  phaseAttemptLatency = newHistogram();
  /** Ack latency since the last takeInterval(), and since the last takeSegment(). */
  #interval = newHistogram();
  #segment = newHistogram();

  constructor(opts: DriverOptions) {
    const u = new URL(opts.url);
    if (!isLoopback(u.hostname)) throw new Error(`load goes to loopback only, not ${u.hostname}`);
    this.name = opts.name;
    this.#opts = opts;
    this.#path = u.pathname + u.search;
    this.#lanes = Array.from({ length: opts.gen.info.lanes }, (_, index) => ({ index, pending: null, tokens: [], wake: null }));
    this.#pool = new Pool(u.origin, {
      connections: this.#lanes.length,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
      connect: { timeout: 5_000 },
    });
  }

  get lanes(): number {
    return this.#lanes.length;
  }

  /** Ack latency percentiles since the last call, and reset. */
  takeInterval(): LatencySummary {
    const s = summarize(this.#interval);
    this.#interval.reset();
    return s;
  }

  /** Ack latency percentiles since the last call (a scenario's own periods), and reset. */
  takeSegment(): LatencySummary {
    const s = summarize(this.#segment);
    this.#segment.reset();
    return s;
  }

  /** Highest acknowledged seq per series id, and the dropped (id, seq) pairs, for a sink to verify. */
  ackedState(): { ackedHi: Int32Array; excluded: Int32Array } {
    const n = Math.max(this.#opts.gen.maxId, 0);
    const ackedHi = new Int32Array(n).fill(-1);
    ackedHi.set(this.#acked.subarray(0, Math.min(n, this.#acked.length)));
    return { ackedHi, excluded: Int32Array.from(this.#excluded) };
  }

  #ack(b: Body): void {
    if (b.maxId > this.#acked.length) {
      let n = this.#acked.length;
      while (n < b.maxId) n *= 2;
      const grown = new Int32Array(n).fill(-1);
      grown.set(this.#acked);
      this.#acked = grown;
    }
    const p = b.pairs;
    const acked = this.#acked;
    for (let i = 0; i < p.length; i += 2) acked[p[i]!] = p[i + 1]!;
    const c = this.counters;
    c.ackedRequests++;
    c.ackedSamples += b.samples;
    c.ackedRawBytes += b.rawBytes;
    c.ackedBodyBytes += b.body.length;
  }

  #reject(b: Body, status: string): void {
    const c = this.counters;
    c.rejectedRequests++;
    c.rejectedSamples += b.samples;
    c.rejectedByStatus[status] = (c.rejectedByStatus[status] ?? 0) + 1;
    for (let i = 0; i < b.pairs.length; i++) this.#excluded.push(b.pairs[i]!);
  }

  /** Send one body until it is acknowledged, dropped, or the phase is aborted. */
  async #send(b: Body, startedAt: number, signal: AbortSignal): Promise<'acked' | 'rejected' | 'aborted'> {
    const c = this.counters;
    let backoff = this.#opts.retryMinMs;
    for (;;) {
      if (signal.aborted) return 'aborted';
      c.attempts++;
      const t0 = performance.now();
      let reason: string;
      let retryAfterMs = 0;
      try {
        const res = await this.#pool.request({ path: this.#path, method: 'POST', headers: HEADERS, body: b.body, signal });
        await res.body.dump();
        const status = res.statusCode;
        if (status === 204) {
          const now = performance.now();
          const attemptUs = Math.max(1, Math.round((now - t0) * 1000));
          this.attemptLatency.recordValue(attemptUs);
          this.phaseAttemptLatency.recordValue(attemptUs);
          const us = Math.max(1, Math.round((now - startedAt) * 1000));
          this.latency.recordValue(us);
          this.phaseLatency.recordValue(us);
          this.#interval.recordValue(us);
          this.#segment.recordValue(us);
          return 'acked';
        }
        if (status !== 429 && status < 500) {
          this.#reject(b, String(status));
          return 'rejected';
        }
        reason = String(status);
        const ra = Number(res.headers['retry-after']);
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
      } catch (err) {
        if (signal.aborted) return 'aborted';
        reason = (err as { code?: string }).code ?? (err as Error).name ?? 'error';
      }
      c.retries[reason] = (c.retries[reason] ?? 0) + 1;
      const wait = Math.min(this.#opts.retryMaxMs, Math.max(retryAfterMs, backoff * (0.8 + Math.random() * 0.4)));
      backoff = Math.min(this.#opts.retryMaxMs, backoff * 2);
      await sleep(wait, signal);
    }
  }

  /** Run one phase of load; resolves when every lane has stopped. */
  async runPhase(p: PhaseOptions): Promise<void> {
    this.phaseLatency = newHistogram();
    this.phaseAttemptLatency = newHistogram();
    const start = performance.now();
    const deadline = start + p.durationMs;
    const maxRequests = p.maxRequests ?? Infinity;
    let started = 0;
    const abort = new AbortController();
    setMaxListeners(Infinity, abort.signal);
    let stopping = false;
    const stopTimer = setTimeout(() => {
      stopping = true;
      for (const l of this.#lanes) l.wake?.();
    }, p.durationMs);
    const abortTimer = setTimeout(() => abort.abort(), p.durationMs + p.drainMs);

    // Open loop: hand out start times round-robin; a lane whose queue is full misses its turn.
    let ticker: NodeJS.Timeout | undefined;
    if (p.mode === 'open') {
      const perBody = this.#opts.gen.info.meanBodySamples;
      const bodiesPerSec = (p.rate ?? 0) / perBody;
      if (!(bodiesPerSec > 0)) throw new Error('open loop needs a rate');
      let issued = 0;
      let next = 0;
      const tick = () => {
        const now = performance.now();
        const due = Math.floor(((Math.min(now, deadline) - start) / 1000) * bodiesPerSec) + 1;
        while (issued < due && issued < maxRequests) {
          const at = start + (issued / bodiesPerSec) * 1000;
          const lane = this.#lanes[next]!;
          next = (next + 1) % this.#lanes.length;
          issued++;
          if (lane.tokens.length >= MAX_LANE_QUEUE) {
            this.counters.missed++;
            continue;
          }
          lane.tokens.push(at);
          lane.wake?.();
        }
      };
      tick();
      ticker = setInterval(tick, Math.max(1, Math.min(50, 1000 / bodiesPerSec / 2)));
    }

    const runLane = async (lane: Lane) => {
      for (;;) {
        if (stopping || performance.now() >= deadline || started >= maxRequests) break;
        let at = performance.now();
        if (p.mode === 'open') {
          while (lane.tokens.length === 0 && !stopping) await new Promise<void>((r) => (lane.wake = r));
          lane.wake = null;
          if (stopping && lane.tokens.length === 0) break;
          at = lane.tokens.shift()!;
        }
        if (!lane.pending) {
          try {
            lane.pending = await this.#opts.gen.next(lane.index);
          } catch (err) {
            abort.abort();
            throw err;
          }
        }
        const body = lane.pending;
        started++;
        this.counters.requestsStarted++;
        this.counters.inFlight++;
        const outcome = await this.#send(body, Math.min(at, performance.now()), abort.signal);
        this.counters.inFlight--;
        if (outcome === 'acked') this.#ack(body);
        if (outcome !== 'aborted') lane.pending = null;
        else break;
      }
    };
    try {
      await Promise.all(this.#lanes.map(runLane));
    } finally {
      clearTimeout(stopTimer);
      if (ticker) clearInterval(ticker);
      clearTimeout(abortTimer);
      for (const l of this.#lanes) l.tokens.length = 0;
    }
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
