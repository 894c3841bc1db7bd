// A measured round: load a target, wait until its sink has everything acknowledged, and
// charge the target's CPU time over load + drain to the samples acknowledged (CPU-time rates
// are the per-core figure that survives a shared, noisy box; PERF-NOTES "Setup and method").
import { httpRequest } from '../../test/integration/helpers/procs.js';
import { summarize, type LatencySummary } from '../load/driver.js';
import type { VerifyResult } from '../sink/tracker.js';
import type { Bench, Subject } from './context.js';
import { CpuWindow, cpuSeconds } from './procstat.js';

export interface RoundResult {
  subject: string;
  label: string;
  mode: 'closed' | 'open';
  loadSeconds: number;
  /** Seconds after the load until the sink held every acknowledged sample; null: it never did within the limit. */
  drainSeconds: number | null;
  ackedSamples: number;
  deliveredSamples: number;
  cpuSeconds: number;
  peakRssBytes: number;
  acceptedPerSec: number;
  deliveredPerSec: number;
  cpuSecondsPerMillion: number;
  /** CPU seconds per wall second over load + drain: ~1.0 means the target's core was the limit. */
  coresBusy: number;
  /** The same for the load side (this process with its generator thread, plus the sink). */
  loadSideCores: number;
  /** Share of the target's (pinned) CPU that other processes or the hypervisor took; null when not pinned. */
  othersShare: number | null;
  /** Spillway: V8 heap and external (Buffer) memory at the end of the load, from its /metrics. */
  memoryAtLoadEnd: { heapTotalBytes: number; heapUsedBytes: number; externalBytes: number } | null;
  /** Spillway: spool fsyncs in the round and their mean duration. */
  fsyncs: number | null;
  fsyncMeanMs: number | null;
  latencyMs: LatencySummary;
  attemptLatencyMs: LatencySummary;
}

export interface TargetSummary {
  name: string;
  rounds: number;
  acceptedSamplesPerSec: number;
  deliveredSamplesPerSec: number;
  ackedSamples: number;
  deliveredSamples: number;
  cpuSeconds: number;
  cpuSecondsPerMillionSamples: number;
  /** Per-round spread of CPU-s per million: (max − min) / median. */
  cpuSpread: number;
  bestCpuSecondsPerMillion: number;
  coresBusy: number;
  peakRssBytes: number;
  latencyMs: LatencySummary;
  attemptLatencyMs: LatencySummary;
  retries: Record<string, number>;
  rejectedRequests: number;
  missedRequests: number;
  bodyBytesPerSample: number;
  rawBytesPerSample: number;
  spoolBytesPerSample: number | null;
  loss: VerifyResult | null;
  duplicates: number;
  outOfOrder: number;
  unknown: number;
  labelMismatch: number;
}

export async function measureRound(
  b: Bench,
  s: Subject,
  opts: { label: string; mode: 'closed' | 'open'; rate?: number; durationSec: number; drainLimitSec?: number },
): Promise<RoundResult> {
  return measureWindow(b, s, { label: opts.label, mode: opts.mode, drainLimitSec: opts.drainLimitSec }, () =>
    s.driver.runPhase({ maxRequests: b.o.maxRequests, mode: opts.mode, rate: opts.rate, durationMs: opts.durationSec * 1000, drainMs: 10_000 }),
  );
}

/**
 * Measure the target over `load` (which runs the driver, and whatever else the scenario does
 * meanwhile) and the drain after it.
 */
export async function measureWindow(
  b: Bench,
  s: Subject,
  opts: { label: string; mode: 'closed' | 'open'; drainLimitSec?: number },
  load: () => Promise<void>,
): Promise<RoundResult> {
  const acked0 = s.driver.counters.ackedSamples;
  const stats0 = await s.sink.stats();
  const base = s.target.writeUrl.replace(/\/api\/v1\/write$/, '');
  const fs0 = s.target.kind === 'spillway' ? await fsyncStats(base) : null;
  const win = new CpuWindow(s.cpu, b.cpu.target !== null && /^\d+$/.test(b.cpu.target) ? Number(b.cpu.target) : null);
  const self0 = process.cpuUsage();
  const sink0 = cpuSeconds(s.sink.proc.pid);
  const touch = setInterval(() => win.touch(), 250);
  const t0 = performance.now();
  try {
    await load();
  } finally {
    clearInterval(touch);
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  let memoryAtLoadEnd: RoundResult['memoryAtLoadEnd'] = null;
  if (s.target.kind === 'spillway') {
    const text = await metricsText(base);
    if (text) {
      memoryAtLoadEnd = {
        heapTotalBytes: metricSum(text, 'nodejs_heap_size_total_bytes'),
        heapUsedBytes: metricSum(text, 'nodejs_heap_size_used_bytes'),
        externalBytes: metricSum(text, 'nodejs_external_memory_bytes'),
      };
    }
  }
  s.measuredLatency.add(s.driver.phaseLatency);
  s.measuredAttemptLatency.add(s.driver.phaseAttemptLatency);
  const touch2 = setInterval(() => win.touch(), 250);
  const drainSeconds = await b.drain(s, (opts.drainLimitSec ?? 30) * 1000);
  clearInterval(touch2);
  const w = win.end();
  const self = process.cpuUsage(self0);
  const loadCpu = (self.user + self.system) / 1e6 + (cpuSeconds(s.sink.proc.pid) - sink0);
  const stats1 = await s.sink.stats();
  const fs1 = s.target.kind === 'spillway' ? await fsyncStats(base) : null;
  const fsyncs = fs0 && fs1 ? fs1.count - fs0.count : null;
  const acked = s.driver.counters.ackedSamples - acked0;
  const delivered = stats1.totals.unique - stats0.totals.unique;
  return {
    subject: s.name,
    label: opts.label,
    mode: opts.mode,
    loadSeconds: round(loadSeconds, 2),
    drainSeconds: drainSeconds === null ? null : round(drainSeconds, 2),
    ackedSamples: acked,
    deliveredSamples: delivered,
    cpuSeconds: round(w.cpuSeconds, 2),
    peakRssBytes: w.peakRssBytes,
    acceptedPerSec: Math.round(acked / loadSeconds),
    deliveredPerSec: Math.round(delivered / w.wallSeconds),
    cpuSecondsPerMillion: acked > 0 ? round((w.cpuSeconds / acked) * 1e6, 3) : NaN,
    coresBusy: round(w.cpuSeconds / w.wallSeconds, 2),
    loadSideCores: round(loadCpu / w.wallSeconds, 2),
    memoryAtLoadEnd,
    othersShare: w.othersSeconds === null ? null : round(w.othersSeconds / w.wallSeconds, 2),
    fsyncs,
    fsyncMeanMs: fs0 && fs1 && fsyncs ? round(((fs1.sum - fs0.sum) / fsyncs) * 1000, 2) : null,
    latencyMs: summarize(s.driver.phaseLatency),
    attemptLatencyMs: summarize(s.driver.phaseAttemptLatency),
  };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/** Sum of the values of every series of a metric in a Prometheus text exposition. */
export function metricSum(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) n += Number(m[1]);
  return n;
}

async function metricsText(base: string): Promise<string | null> {
  try {
    const res = await httpRequest(`${base}/metrics`, { timeoutMs: 5_000 });
    return res.status === 200 ? res.body.toString('utf8') : null;
  } catch {
    return null;
  }
}

async function fsyncStats(base: string): Promise<{ count: number; sum: number } | null> {
  const text = await metricsText(base);
  if (!text) return null;
  return { count: metricSum(text, 'spillway_spool_fsync_duration_seconds_count'), sum: metricSum(text, 'spillway_spool_fsync_duration_seconds_sum') };
}

/** Spillway's spooled bytes per sample: what it sent per sample (its spool holds exactly what it sends). */
export async function spoolBytesPerSample(url: string): Promise<number | null> {
  const text = await metricsText(url);
  if (!text) return null;
  const bytes = metricSum(text, 'spillway_node_sent_bytes_total');
  const samples = metricSum(text, 'spillway_node_sent_samples_total');
  return samples > 0 ? round(bytes / samples, 1) : null;
}

/** Totals over a subject's measured rounds, plus loss and order from its sink. */
export async function summarizeTarget(b: Bench, s: Subject, rounds: RoundResult[], verify: boolean): Promise<TargetSummary> {
  const mine = rounds.filter((r) => r.subject === s.name);
  const acked = mine.reduce((n, r) => n + r.ackedSamples, 0);
  const delivered = mine.reduce((n, r) => n + r.deliveredSamples, 0);
  const cpu = mine.reduce((n, r) => n + r.cpuSeconds, 0);
  const load = mine.reduce((n, r) => n + r.loadSeconds, 0);
  const wall = mine.reduce((n, r) => n + r.loadSeconds + (r.drainSeconds ?? 0), 0);
  const perM = mine.map((r) => r.cpuSecondsPerMillion).filter((x) => Number.isFinite(x));
  const c = s.driver.counters;
  let loss: VerifyResult | null = null;
  if (verify) {
    const a = s.driver.ackedState();
    loss = await s.sink.verify(a.ackedHi, a.excluded);
  }
  const st = await s.sink.stats();
  return {
    name: s.name,
    rounds: mine.length,
    acceptedSamplesPerSec: load > 0 ? Math.round(acked / load) : 0,
    deliveredSamplesPerSec: wall > 0 ? Math.round(delivered / wall) : 0,
    ackedSamples: acked,
    deliveredSamples: delivered,
    cpuSeconds: round(cpu, 2),
    cpuSecondsPerMillionSamples: acked > 0 ? round((cpu / acked) * 1e6, 3) : NaN,
    cpuSpread: perM.length > 1 ? round((Math.max(...perM) - Math.min(...perM)) / median(perM), 3) : 0,
    bestCpuSecondsPerMillion: perM.length ? Math.min(...perM) : NaN,
    coresBusy: wall > 0 ? round(cpu / wall, 2) : 0,
    peakRssBytes: Math.max(0, ...mine.map((r) => r.peakRssBytes)),
    latencyMs: summarize(s.measuredLatency),
    attemptLatencyMs: summarize(s.measuredAttemptLatency),
    retries: { ...c.retries },
    rejectedRequests: c.rejectedRequests,
    missedRequests: c.missed,
    bodyBytesPerSample: c.ackedSamples > 0 ? round(c.ackedBodyBytes / c.ackedSamples, 1) : 0,
    rawBytesPerSample: c.ackedSamples > 0 ? round(c.ackedRawBytes / c.ackedSamples, 1) : 0,
    spoolBytesPerSample: s.target.kind === 'spillway' ? await spoolBytesPerSample(s.target.writeUrl.replace(/\/api\/v1\/write$/, '')) : null,
    loss,
    duplicates: st.totals.duplicates,
    outOfOrder: st.totals.outOfOrder,
    unknown: st.totals.unknown,
    labelMismatch: st.totals.labelMismatch,
  };
}
