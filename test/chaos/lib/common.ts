// Small shared pieces of the chaos suites: cleanup without tap, a seeded random source,
// process RSS from /proc, percentiles, and the options every suite receives.

import { readFileSync } from 'node:fs';
import type { Teardown } from '../../integration/helpers/procs.js';
import type { Size } from './report.js';

export interface SuiteOptions {
  size: Size;
  /** Where child processes, sinks and temporary directories register their cleanup. */
  t: Teardown;
  /** Progress lines (stderr in the runner, t.comment under tap). */
  log: (line: string) => void;
  seed: number;
  /** Numeric overrides of a suite's size parameters (runner: --param name=value). */
  params?: Record<string, number>;
}

/** Parameters for a size, with overrides applied to known keys only. */
export function sized<P extends Record<string, number>>(opts: SuiteOptions, sizes: { ci: P; long: P }): P {
  const p = { ...sizes[opts.size] };
  for (const [k, v] of Object.entries(opts.params ?? {})) {
    if (k in p && Number.isFinite(v)) (p as Record<string, number>)[k] = v;
  }
  return p;
}

/** A Teardown for runs outside tap: functions run in reverse order of registration. */
export class Cleanup implements Teardown {
  private fns: (() => unknown)[] = [];

  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }

  async run(): Promise<void> {
    const fns = this.fns.reverse();
    this.fns = [];
    for (const fn of fns) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`cleanup: ${(err as Error).message}\n`);
      }
    }
  }
}

/** mulberry32: small, fast, seeded; the same seed replays the same run. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

/** Resident set size of a process in bytes (VmRSS), or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's RSS on a timer; the pid may change (restarts). */
export class RssSampler {
  peak = 0;
  last = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pid: () => number,
    private readonly intervalMs = 100,
  ) {}

  sample(): number {
    const v = rssBytes(this.pid());
    if (v !== null) {
      this.last = v;
      if (v > this.peak) this.peak = v;
    }
    return this.last;
  }

  start(): this {
    this.sample();
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Restart the peak from now (for a phase of its own). */
  resetPeak(): void {
    this.peak = 0;
    this.sample();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}
