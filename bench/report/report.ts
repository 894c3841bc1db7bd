// The run's report: report.json (everything, machine-readable), report.md (the figures a
// person wants, then the details) and SVG charts, in bench/out/<scenario>-<timestamp>/.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Band, TimelinePoint } from '../harness/context.js';
import type { RoundResult, TargetSummary } from '../harness/measure.js';
import type { Options } from '../harness/options.js';
import { lineChart, shortNumber, type ChartBand, type ChartSeries } from './svg.js';

export interface FleetInfo {
  hosts: number;
  seriesPerHost: number;
  intervalSec: number;
  churn: number;
  series: number;
  /** What the simulated fleet produces at its scrape interval. */
  samplesPerSecAtInterval: number;
  batch: string;
  samplesPerRequest: number;
  meanBodySamples: number;
  meanSeriesBytes: number;
  lanes: number;
}

export interface Report {
  scenario: string;
  title: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  command: string;
  options: Options;
  machine: { cpus: number; model: string; node: string; loadavgStart: number[]; loadavgEnd: number[]; pinning: { target: string | null; load: string | null } };
  fleet: FleetInfo | null;
  targets: Record<string, TargetSummary>;
  rounds: RoundResult[];
  /** Scenario-specific figures (outage, crash, rebalance, capacity). */
  details: Record<string, unknown>;
  /** Scenario-specific Markdown, in order. */
  sections: { title: string; markdown: string }[];
  events: { t: number; text: string }[];
  bands: Band[];
  timeline: TimelinePoint[];
  verdict: { ok: boolean; lostSamples: number; problems: string[] };
  notes: string[];
}

export const fmt = {
  rate: (n: number) => (Number.isFinite(n) ? `${shortNumber(n)}/s` : 'n/a'),
  n: (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US') : 'n/a'),
  bytes: (n: number | null | undefined) => {
    if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    let v = n;
    while (Math.abs(v) >= 1024 && i < u.length - 1) {
      v /= 1024;
      i++;
    }
    return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
  },
  ms: (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(0)} ms` : 'n/a'),
  s: (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : `${n.toFixed(1)} s`),
  x: (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a'),
};

export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

function targetTable(targets: TargetSummary[]): string {
  const row = (label: string, f: (t: TargetSummary) => string) => [label, ...targets.map(f)];
  return table(
    ['', ...targets.map((t) => `**${t.name}**`)],
    [
      row('accepted samples/s (acked 204, over load time)', (t) => fmt.rate(t.acceptedSamplesPerSec)),
      row('delivered samples/s (distinct at sink, over load + drain)', (t) => fmt.rate(t.deliveredSamplesPerSec)),
      row('CPU-seconds per million samples (from /proc)', (t) => `${fmt.x(t.cpuSecondsPerMillionSamples, 2)} (best ${fmt.x(t.bestCpuSecondsPerMillion, 2)}, spread ${(t.cpuSpread * 100).toFixed(0)} %)`),
      row('→ samples/s per core', (t) => fmt.rate(1e6 / t.cpuSecondsPerMillionSamples)),
      row('cores busy (CPU-s / wall-s)', (t) => fmt.x(t.coresBusy)),
      row('peak RSS (VmHWM)', (t) => fmt.bytes(t.peakRssBytes)),
      row('ack latency p50 / p90 / p99 / p99.9', (t) => [t.latencyMs.p50, t.latencyMs.p90, t.latencyMs.p99, t.latencyMs.p999].map(fmt.ms).join(' / ')),
      row('single-attempt latency p50 / p99', (t) => `${fmt.ms(t.attemptLatencyMs.p50)} / ${fmt.ms(t.attemptLatencyMs.p99)}`),
      row('spool bytes per sample', (t) => (t.spoolBytesPerSample === null ? 'n/a' : `${t.spoolBytesPerSample} B`)),
      row('request body bytes per sample (snappy) / raw', (t) => `${t.bodyBytesPerSample} B / ${t.rawBytesPerSample} B`),
      row('retries (by reason) / dropped requests', (t) => `${Object.entries(t.retries).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'} / ${t.rejectedRequests}`),
      row('**lost** (acked, never delivered)', (t) => (t.loss ? `**${fmt.n(t.loss.lost)}** of ${fmt.n(t.loss.acked)}` : 'not checked')),
      row('duplicates / out of order / unknown', (t) => `${fmt.n(t.duplicates)} / ${fmt.n(t.outOfOrder)} / ${fmt.n(t.unknown + t.labelMismatch)}`),
    ],
  );
}

function roundsTable(rounds: RoundResult[]): string {
  return table(
    ['round', 'target', 'load s', 'drain s', 'acked', 'accepted/s', 'delivered/s', 'CPU s', 'CPU-s/M', 'cores busy', 'peak RSS', 'heap used / external at load end', 'p50', 'p99'],
    rounds.map((r) => [
      r.label,
      r.subject,
      r.loadSeconds,
      r.drainSeconds ?? 'timeout',
      fmt.n(r.ackedSamples),
      fmt.rate(r.acceptedPerSec),
      fmt.rate(r.deliveredPerSec),
      r.cpuSeconds,
      fmt.x(r.cpuSecondsPerMillion, 2),
      r.coresBusy,
      fmt.bytes(r.peakRssBytes),
      r.memoryAtLoadEnd ? `${fmt.bytes(r.memoryAtLoadEnd.heapUsedBytes)} / ${fmt.bytes(r.memoryAtLoadEnd.externalBytes)}` : 'n/a',
      fmt.ms(r.latencyMs.p50),
      fmt.ms(r.latencyMs.p99),
    ]),
  );
}

function charts(r: Report): { file: string; svg: string; alt: string }[] {
  const subjects = [...new Set(r.timeline.map((p) => p.subject))];
  let phase = 0;
  const bands: ChartBand[] = r.bands
    .filter((b) => b.to !== null)
    .map((b) => ({ from: b.from, to: b.to!, label: b.label, color: b.kind === 'failure' ? '#f7c6c6' : phase++ % 2 ? '#dbe7fb' : '#eef3fd' }));
  const by = (s: string) => r.timeline.filter((p) => p.subject === s);
  const out: { file: string; svg: string; alt: string }[] = [];
  const tput: ChartSeries[] = [];
  for (const s of subjects) {
    tput.push({ name: `${s} accepted`, points: by(s).map((p) => [p.t, p.acceptedPerSec]) });
    tput.push({ name: `${s} delivered`, points: by(s).map((p) => [p.t, p.deliveredPerSec]), dashed: true });
  }
  out.push({ file: 'throughput.svg', alt: 'samples/s accepted and delivered over time', svg: lineChart({ title: 'Throughput (samples/s, 0.5 s intervals)', xLabel: 'seconds since start', yLabel: 'samples/s', series: tput, bands }) });
  const lat: ChartSeries[] = [];
  for (const s of subjects) {
    lat.push({ name: `${s} p50`, points: by(s).map((p) => [p.t, p.p50]) });
    lat.push({ name: `${s} p99`, points: by(s).map((p) => [p.t, p.p99]), dashed: true });
  }
  out.push({ file: 'latency.svg', alt: 'ack latency p50 and p99 over time', svg: lineChart({ title: 'Ack latency (ms, per 0.5 s interval, log scale)', xLabel: 'seconds since start', yLabel: 'ms', series: lat, bands, logY: true }) });
  const sw = subjects.filter((s) => by(s).some((p) => p.nodePending !== null));
  if (sw.length > 0) {
    const back: ChartSeries[] = [];
    for (const s of sw) {
      const pts = by(s);
      const nodes = Math.max(0, ...pts.map((p) => p.nodePending?.length ?? 0));
      for (let i = 0; i < nodes; i++) back.push({ name: `${s} node ${i} pending samples`, points: pts.map((p) => [p.t, p.nodePending?.[i] ?? null]) });
    }
    out.push({ file: 'backlog.svg', alt: 'spooled samples not yet delivered, per node', svg: lineChart({ title: 'Backlog: samples spooled, not yet acknowledged by the node', xLabel: 'seconds since start', yLabel: 'samples', series: back, bands }) });
    const disk: ChartSeries[] = [];
    for (const s of sw) {
      disk.push({ name: `${s} pending bytes`, points: by(s).map((p) => [p.t, p.backlogBytes]) });
      disk.push({ name: `${s} spool on disk`, points: by(s).map((p) => [p.t, p.diskBytes]), dashed: true });
      disk.push({ name: `${s} RSS`, points: by(s).map((p) => [p.t, p.rssBytes]) });
    }
    out.push({ file: 'memory-disk.svg', alt: 'pending spool bytes, spool disk usage and RSS', svg: lineChart({ title: 'Spool bytes and RSS', xLabel: 'seconds since start', yLabel: 'bytes', series: disk, bands, yFormat: (v) => fmt.bytes(v) }) });
  }
  return out;
}

export function renderMarkdown(r: Report, chartFiles: { file: string; alt: string }[]): string {
  const L: string[] = [];
  L.push(`# Spillway bench: ${r.title}`);
  L.push('');
  const verdict = r.verdict.ok
    ? `**OK**: no acknowledged sample lost${r.verdict.problems.length ? '' : ', no process crashed'}.`
    : `**FAILED**: ${r.verdict.lostSamples > 0 ? `${fmt.n(r.verdict.lostSamples)} acknowledged samples never delivered. ` : ''}${r.verdict.problems.join('; ')}`;
  L.push(verdict);
  L.push('');
  L.push(`${r.startedAt} · ${fmt.s(r.wallSeconds)} · \`${r.command}\``);
  L.push('');
  L.push(
    `Machine: ${r.machine.cpus} × ${r.machine.model}, Node ${r.machine.node}, load average ${r.machine.loadavgStart.map((x) => x.toFixed(1)).join(' ')} at start, ${r.machine.loadavgEnd.map((x) => x.toFixed(1)).join(' ')} at end. ` +
      (r.machine.pinning.target ? `Target pinned to CPU ${r.machine.pinning.target}, load generator and sinks to CPU ${r.machine.pinning.load}.` : 'Not pinned.'),
  );
  if (r.fleet) {
    const f = r.fleet;
    L.push('');
    L.push(
      `Fleet: ${fmt.n(f.hosts)} hosts × ${fmt.n(f.seriesPerHost)} series = ${fmt.n(f.series)} series (node_exporter + mysqld/postgres_exporter, ${fmt.n(Math.round(f.meanSeriesBytes))} B per series on the wire), ` +
        `${f.intervalSec} s scrape interval = ${fmt.rate(f.samplesPerSecAtInterval)} at its own pace; churn ${(f.churn * 100).toFixed(2)} % per scrape. ` +
        `Requests: ${f.batch === 'host' ? "one host's scrape each" : 'full'} (mean ${fmt.n(Math.round(f.meanBodySamples))} samples, cap ${fmt.n(f.samplesPerRequest)}), ${f.lanes} connections with one request in flight each.`,
    );
  }
  const targets = Object.values(r.targets);
  if (targets.length > 0) {
    L.push('', '## Key figures', '', targetTable(targets));
  }
  for (const s of r.sections) L.push('', `## ${s.title}`, '', s.markdown);
  if (chartFiles.length > 0) {
    L.push('', '## Charts', '');
    L.push('Shaded: failure windows (red) and measured rounds or phases (blue).', '');
    for (const c of chartFiles) L.push(`![${c.alt}](${c.file})`, '');
  }
  if (r.rounds.length > 0) L.push('', '## Rounds', '', roundsTable(r.rounds));
  if (r.events.length > 0) {
    L.push('', '## Events', '');
    for (const e of r.events) L.push(`- ${e.t.toFixed(1)} s: ${e.text}`);
  }
  if (r.notes.length > 0) {
    L.push('', '## Notes', '');
    for (const n of r.notes) L.push(`- ${n}`);
  }
  L.push('', 'How to read this report: bench/README.md. Raw data: report.json (timeline every 0.5 s).', '');
  return L.join('\n');
}

export function writeReport(dir: string, r: Report): { markdown: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const cs = charts(r);
  for (const c of cs) writeFileSync(path.join(dir, c.file), c.svg);
  const json = path.join(dir, 'report.json');
  const markdown = path.join(dir, 'report.md');
  writeFileSync(json, JSON.stringify(r, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  writeFileSync(markdown, renderMarkdown(r, cs));
  return { markdown, json };
}
