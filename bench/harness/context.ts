// What every scenario shares: the run directory, CPU pinning, the processes (targets and
// sinks) with their cleanup, the load generators and drivers, a 500 ms monitor that records
// the timeline the charts are drawn from, events and failure windows, and the progress line.
import { mkdtempSync, rmSync } from 'node:fs';
import type * as hdr from 'hdr-histogram-js';
import os from 'node:os';
import path from 'node:path';
import { killAll } from '../../test/integration/helpers/procs.js';
import type { FleetSpec } from '../fleet/pmm.js';
import { GeneratorClient } from '../load/gen-client.js';
import { LoadDriver, newHistogram, type LatencySummary } from '../load/driver.js';
import { startSink, type Sink } from '../sink/client.js';
import type { SinkStats } from '../sink/server.js';
import type { Options } from './options.js';
import { cpuSeconds, memInfo, pin, ProcessCpu } from './procstat.js';
import { Progress } from './progress.js';
import { fmt } from '../report/report.js';
import { startSpillwayTarget, startVmagentTarget, type SpillwayTarget, type StatusDoc, type Target } from './targets.js';

export interface TimelinePoint {
  /** Seconds since the run started. */
  t: number;
  subject: string;
  acceptedPerSec: number;
  deliveredPerSec: number;
  /** Ack latency of requests acknowledged in this interval, ms (null: none). */
  p50: number | null;
  p99: number | null;
  cpuCores: number | null;
  rssBytes: number | null;
  /** Spillway only: pending samples and bytes over all nodes, and per node. */
  backlogSamples: number | null;
  backlogBytes: number | null;
  diskBytes: number | null;
  nodePending: number[] | null;
  nodeStates: string[] | null;
}

export interface Band {
  from: number;
  to: number | null;
  label: string;
  kind: 'failure' | 'phase';
}

/** A target under load: the process, its sink, its generator and driver. */
export interface Subject {
  name: string;
  target: Target;
  sink: Sink;
  gen: GeneratorClient;
  driver: LoadDriver;
  /** Set while the scenario has stopped or killed the process on purpose. */
  expectDown: boolean;
  last: { at: number; pid: number; cpu: number; acked: number; delivered: number } | null;
  latest: TimelinePoint | null;
  lastStatus: StatusDoc | null;
  lastSink: SinkStats | null;
  /** CPU seconds of the target over its incarnations. */
  cpu: ProcessCpu;
  /** Ack latency over measured rounds only (warm-up left out). */
  measuredLatency: hdr.Histogram;
  measuredAttemptLatency: hdr.Histogram;
}

const MONITOR_MS = 500;

function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}k` : n.toFixed(0);
}

export class Bench {
  readonly o: Options;
  readonly startedAt = new Date();
  readonly #t0 = performance.now();
  readonly outDir: string;
  readonly workDir: string;
  readonly cpu: { target: string | null; load: string | null };
  readonly progress = new Progress();
  readonly timeline: TimelinePoint[] = [];
  readonly events: { t: number; text: string }[] = [];
  readonly bands: Band[] = [];
  readonly subjects: Subject[] = [];
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  phase = 'starting';
  #monitor: NodeJS.Timeout | null = null;
  #ticking = false;
  readonly #sinks: Sink[] = [];
  readonly #targets: Target[] = [];
  readonly #gens: GeneratorClient[] = [];
  readonly #drivers: LoadDriver[] = [];

  constructor(o: Options, outDir: string) {
    this.o = o;
    this.outDir = outDir;
    this.workDir = mkdtempSync(path.join(os.tmpdir(), `spillway-bench-${o.scenario}-`));
    const n = os.availableParallelism();
    const canPin = o.pin && n >= 2;
    this.cpu = canPin ? { target: '0', load: n === 2 ? '1' : `1-${n - 1}` } : { target: null, load: null };
    if (canPin && !pin(process.pid, this.cpu.load!)) {
      this.notes.push('taskset failed: processes are not pinned');
      this.cpu = { target: null, load: null };
    }
  }

  /** Seconds since the run started. */
  now(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  event(text: string): void {
    const t = this.now();
    this.events.push({ t, text });
    this.progress.log(`[${this.o.scenario} ${t.toFixed(1)}s] ${text}`);
  }

  band(label: string, kind: Band['kind']): Band {
    const b: Band = { from: this.now(), to: null, label, kind };
    this.bands.push(b);
    return b;
  }

  endBand(b: Band): void {
    b.to = this.now();
  }

  get maxLifetimeMs(): number {
    return this.o.maxSeconds * 1000 + 30_000;
  }

  async startSink(name: string, listeners: number): Promise<Sink> {
    const s = await startSink(name, listeners, { maxLifetimeMs: this.maxLifetimeMs, cpu: this.cpu.load });
    this.#sinks.push(s);
    return s;
  }

  async startSpillway(nodeUrls: string[], flags: string[] = []): Promise<SpillwayTarget> {
    const t = await startSpillwayTarget({
      nodeUrls,
      spoolPath: path.join(this.workDir, 'spool'),
      // Bench defaults that keep catch-up times about the data, not about backoff; overridable.
      flags: ['-remoteWrite.retryMinInterval=200ms', '-remoteWrite.retryMaxInterval=2s', ...flags, ...this.o.spillwayFlags],
      cpu: this.cpu.target,
      nodeArgs: this.o.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(this.outDir, 'profile')}`] : [],
      env: Object.fromEntries(this.o.spillwayEnv.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
      maxLifetimeMs: this.maxLifetimeMs,
    });
    this.#targets.push(t);
    return t;
  }

  async startVmagent(url: string): Promise<Target> {
    const t = await startVmagentTarget({
      url,
      dataDir: path.join(this.workDir, 'vmagent'),
      flags: this.o.vmagentFlags,
      cpu: this.cpu.target,
      maxLifetimeMs: this.maxLifetimeMs,
    });
    this.#targets.push(t);
    return t;
  }

  fleetSpec(hosts = this.o.hosts): FleetSpec {
    return { hosts, seriesPerHost: this.o.seriesPerHost, intervalSec: this.o.intervalSec, churn: this.o.churn, seed: this.o.seed };
  }

  /** A generator and driver for a target, registered with the monitor. */
  async subject(name: string, target: Target, sink: Sink, fleet: FleetSpec = this.fleetSpec()): Promise<Subject> {
    const gen = await GeneratorClient.start({ fleet, lanes: this.o.connections, batch: this.o.batch, samplesPerRequest: this.o.samplesPerRequest });
    this.#gens.push(gen);
    const driver = new LoadDriver({ name, url: target.writeUrl, gen, retryMinMs: 100, retryMaxMs: 2_000, requestTimeoutMs: 30_000 });
    this.#drivers.push(driver);
    const s: Subject = {
      name,
      target,
      sink,
      gen,
      driver,
      expectDown: false,
      last: null,
      latest: null,
      lastStatus: null,
      lastSink: null,
      cpu: new ProcessCpu(() => target.proc().pid),
      measuredLatency: newHistogram(),
      measuredAttemptLatency: newHistogram(),
    };
    this.subjects.push(s);
    return s;
  }

  /**
   * The start every failure scenario shares: Spillway on `nodeUrls` of `sink`, its load
   * subject at the open-loop rate (-rate, or one scrape of the fleet per interval), the
   * monitor, then the warm-up phase (skipped when -warmup is 0) drained to the sink.
   */
  async spillwayUnderLoad(sink: Sink, nodeUrls: string[]): Promise<{ sw: SpillwayTarget; s: Subject; rate: number }> {
    const sw = await this.startSpillway(nodeUrls);
    const s = await this.subject('spillway', sw, sink);
    const rate = this.o.rate > 0 ? this.o.rate : s.gen.info.series / this.o.intervalSec;
    this.startMonitor();
    this.event(`started spillway (pid ${sw.proc().pid}) with ${nodeUrls.length} nodes; ${fmt.rate(rate)} open loop`);
    if (this.o.warmup > 0) {
      this.phase = 'warm-up';
      const band = this.band('warm-up', 'phase');
      await s.driver.runPhase({ maxRequests: this.o.maxRequests, mode: 'open', rate, durationMs: this.o.warmup * 1000, drainMs: 10_000 });
      await this.drain(s, 30_000);
      this.endBand(band);
    }
    return { sw, s, rate };
  }

  startMonitor(): void {
    if (this.#monitor) return;
    this.#monitor = setInterval(() => void this.#tick(), MONITOR_MS);
  }

  stopMonitor(): void {
    if (this.#monitor) clearInterval(this.#monitor);
    this.#monitor = null;
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      for (const s of this.subjects) await this.#sample(s);
      this.#drawProgress();
    } catch (err) {
      this.notes.push(`monitor: ${(err as Error).message}`);
    } finally {
      this.#ticking = false;
    }
  }

  async #sample(s: Subject): Promise<void> {
    const at = this.now();
    const proc = s.target.proc();
    const pid = proc.pid;
    if (!proc.running && !s.expectDown) {
      const msg = `${s.name} exited unexpectedly: ${proc.describeExit()}`;
      if (!this.problems.includes(msg)) {
        this.problems.push(msg);
        this.event(msg);
      }
    }
    const cpu = proc.running ? cpuSeconds(pid) : NaN;
    const mem = proc.running ? memInfo(pid) : null;
    const [sink, status] = await Promise.all([s.sink.stats().catch(() => null), s.target.kind === 'spillway' && proc.running ? s.target.status() : Promise.resolve(null)]);
    if (sink) s.lastSink = sink;
    if (status) s.lastStatus = status;
    const acked = s.driver.counters.ackedSamples;
    const delivered = sink ? sink.totals.unique : (s.last?.delivered ?? 0);
    const lat: LatencySummary = s.driver.takeInterval();
    const prev = s.last;
    const dt = prev ? at - prev.at : 0;
    const point: TimelinePoint = {
      t: Math.round(at * 100) / 100,
      subject: s.name,
      acceptedPerSec: prev && dt > 0 ? Math.round((acked - prev.acked) / dt) : 0,
      deliveredPerSec: prev && dt > 0 ? Math.round((delivered - prev.delivered) / dt) : 0,
      p50: lat.count > 0 ? lat.p50 : null,
      p99: lat.count > 0 ? lat.p99 : null,
      cpuCores: prev && dt > 0 && prev.pid === pid && Number.isFinite(cpu) && Number.isFinite(prev.cpu) ? Math.round(((cpu - prev.cpu) / dt) * 100) / 100 : null,
      rssBytes: mem && Number.isFinite(mem.rssBytes) ? mem.rssBytes : null,
      backlogSamples: status ? status.nodes.reduce((n, x) => n + x.pendingSamples, 0) : null,
      backlogBytes: status ? status.nodes.reduce((n, x) => n + x.pendingBytes, 0) : null,
      diskBytes: status ? status.nodes.reduce((n, x) => n + (x.diskBytes ?? 0), 0) : null,
      nodePending: status ? status.nodes.map((x) => x.pendingSamples) : null,
      nodeStates: status ? status.nodes.map((x) => x.state) : null,
    };
    s.last = { at, pid, cpu, acked, delivered };
    s.latest = point;
    if (prev) this.timeline.push(point);
  }

  #drawProgress(): void {
    const parts = [`[${this.o.scenario} ${this.now().toFixed(0)}s] ${this.phase}`];
    for (const s of this.subjects) {
      const p = s.latest;
      if (!p) continue;
      let line = `${s.name}: in ${fmtRate(p.acceptedPerSec)}/s out ${fmtRate(p.deliveredPerSec)}/s`;
      if (p.p99 !== null) line += ` p99 ${p.p99.toFixed(0)}ms`;
      if (p.cpuCores !== null) line += ` cpu ${p.cpuCores.toFixed(2)}`;
      if (p.rssBytes !== null) line += ` rss ${(p.rssBytes / 2 ** 20).toFixed(0)}M`;
      if (p.backlogSamples) line += ` backlog ${fmtRate(p.backlogSamples)}`;
      parts.push(line);
    }
    this.progress.update(parts.join(' | '));
  }

  /** Poll until `check` is true or `timeoutMs` passes; returns whether it became true. */
  async waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 200): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (await check()) return true;
      if (performance.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  /** Wait until the sink holds every sample the driver saw acknowledged; returns seconds waited, or null on timeout. */
  async drain(s: Subject, timeoutMs: number): Promise<number | null> {
    const t0 = performance.now();
    const ok = await this.waitFor(async () => {
      const a = s.driver.ackedState();
      return (await s.sink.verify(a.ackedHi, a.excluded)).lost === 0;
    }, timeoutMs, 250);
    return ok ? (performance.now() - t0) / 1000 : null;
  }

  /** Stop everything we started: drivers, generators, targets (gracefully), sinks; remove temp dirs. */
  async close(): Promise<void> {
    this.stopMonitor();
    this.progress.done();
    await Promise.allSettled(this.#drivers.map((d) => d.close()));
    await Promise.allSettled(this.#gens.map((g) => g.close()));
    for (const s of this.subjects) s.expectDown = true;
    await Promise.allSettled(this.#targets.map((t) => t.stop()));
    await Promise.allSettled(this.#sinks.map((s) => s.stop()));
    if (!this.o.keep) rmSync(this.workDir, { recursive: true, force: true });
    else this.notes.push(`data kept in ${this.workDir}`);
  }

  /** Ctrl-C: SIGKILL every child now, wait (briefly) until they are gone, remove temp dirs. */
  async abort(): Promise<void> {
    killAll();
    const procs = [...this.#targets.map((t) => t.proc()), ...this.#sinks.map((s) => s.proc)];
    await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 3_000))]);
    if (!this.o.keep) {
      try {
        rmSync(this.workDir, { recursive: true, force: true, maxRetries: 3 });
      } catch (err) {
        process.stderr.write(`could not remove ${this.workDir}: ${(err as Error).message}\n`);
      }
    }
  }
}
