// capacity: a fleet description in, a sizing table out.
//
// The fleet (--hosts × --series-per-host at --interval) sets the samples/s to carry. A sample
// of it (at most --max-sim-series series, same series per host and labels) is measured here:
//   1. steady, closed loop, Spillway and vmagent interleaved → CPU-seconds per million samples
//      and peak RSS (cost per sample does not depend on how many hosts send it);
//   2. a spool probe: one node down for --outage under open-loop load → spool bytes per
//      sample, then its return → how fast a backlog drains.
// Sizing: cores = samples/s × CPU-s per sample × (1 + margin); spool disk for --plan-outage =
// spool bytes per sample × samples/s × outage seconds × (1 + margin) (for one node's share
// and for all nodes); memory = measured peak RSS per process × processes × (1 + margin).
import type { Subject } from '../harness/context.js';
import { measureWindow, round, summarizeTarget, type TargetSummary } from '../harness/measure.js';
import { fmt, table } from '../report/report.js';
import { outageDuring, outageTable, type OutageFigures } from './outage.js';
import { peerSubject } from './peer.js';
import { comparison, interleavedRounds, warmUp } from './steady.js';
import { fleetInfo, type Scenario } from './types.js';

const SEGMENT_BYTES = 64 * 2 ** 20; // -spool.segmentSize default: a queue can hold up to one more segment than its data

export interface Sizing {
  samplesPerSec: number;
  margin: number;
  planOutageSec: number;
  nodes: number;
  spillway: {
    cpuSecondsPerMillion: number;
    samplesPerSecPerCore: number;
    closedLoopSamplesPerSec: number;
    coresBusyInClosedLoop: number;
    cores: number;
    processes: number;
    peakRssBytes: number;
    memoryBytes: number;
    spoolBytesPerSample: number | null;
    diskOneNodeBytes: number | null;
    diskPerNodeCapBytes: number | null;
    diskAllNodesBytes: number | null;
    backlogDrainPerSec: number | null;
    catchUpSecondsOneNode: number | null;
  };
  vmagent: { cpuSecondsPerMillion: number; samplesPerSecPerCore: number; cores: number; peakRssBytes: number; memoryBytes: number } | null;
}

export function size(opts: {
  samplesPerSec: number;
  margin: number;
  planOutageSec: number;
  nodes: number;
  sw: TargetSummary;
  va: TargetSummary | null;
  probe: OutageFigures | null;
}): Sizing {
  const { samplesPerSec: rate, margin, planOutageSec: T, nodes, sw, va, probe } = opts;
  const k = 1 + margin;
  const cores = (rate * sw.cpuSecondsPerMillionSamples * k) / 1e6;
  // One event loop per process: plan on at most one core each.
  const processes = Math.max(1, Math.ceil(cores));
  const bps = probe?.spoolBytesPerSample ?? sw.spoolBytesPerSample;
  const oneNode = bps === null ? null : bps * (rate / nodes) * T * k + SEGMENT_BYTES;
  const all = bps === null ? null : bps * rate * T * k + nodes * SEGMENT_BYTES;
  // Each process drains its own share of a node's backlog, in parallel.
  const drain = probe?.backlogDrainPerSec ?? null;
  const catchUp = drain && drain > 0 ? (rate / nodes / processes) * T / drain : null;
  return {
    samplesPerSec: rate,
    margin,
    planOutageSec: T,
    nodes,
    spillway: {
      cpuSecondsPerMillion: sw.cpuSecondsPerMillionSamples,
      samplesPerSecPerCore: Math.round(1e6 / sw.cpuSecondsPerMillionSamples),
      closedLoopSamplesPerSec: sw.acceptedSamplesPerSec,
      coresBusyInClosedLoop: sw.coresBusy,
      cores: round(cores, 2),
      processes,
      peakRssBytes: sw.peakRssBytes,
      memoryBytes: Math.round(sw.peakRssBytes * processes * k),
      spoolBytesPerSample: bps,
      diskOneNodeBytes: oneNode === null ? null : Math.round(oneNode),
      diskPerNodeCapBytes: oneNode === null ? null : Math.round(oneNode / processes),
      diskAllNodesBytes: all === null ? null : Math.round(all),
      backlogDrainPerSec: drain,
      catchUpSecondsOneNode: catchUp === null ? null : Math.round(catchUp),
    },
    vmagent: va
      ? {
          cpuSecondsPerMillion: va.cpuSecondsPerMillionSamples,
          samplesPerSecPerCore: Math.round(1e6 / va.cpuSecondsPerMillionSamples),
          cores: round((rate * va.cpuSecondsPerMillionSamples * k) / 1e6, 2),
          peakRssBytes: va.peakRssBytes,
          memoryBytes: Math.round(va.peakRssBytes * k),
        }
      : null,
  };
}

function duration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return 'n/a';
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${(sec / 60).toFixed(0)} min`;
  return `${(sec / 3600).toFixed(1)} h`;
}

export function sizingTable(z: Sizing): string {
  const s = z.spillway;
  const v = z.vmagent;
  const m = `+${Math.round(z.margin * 100)} %`;
  const rows: string[][] = [
    ['samples/s the fleet produces', fmt.rate(z.samplesPerSec), fmt.rate(z.samplesPerSec)],
    ['CPU-seconds per million samples (measured)', fmt.x(s.cpuSecondsPerMillion), v ? fmt.x(v.cpuSecondsPerMillion) : 'n/a'],
    ['samples/s per core (measured)', fmt.rate(s.samplesPerSecPerCore), v ? fmt.rate(v.samplesPerSecPerCore) : 'n/a'],
    ['needed vs one core', `${fmt.x(z.samplesPerSec / s.samplesPerSecPerCore)} × one core`, v ? `${fmt.x(z.samplesPerSec / v.samplesPerSecPerCore)} × one core` : 'n/a'],
    [`**cores** (${m})`, `**${fmt.x(s.cores)}**`, v ? `**${fmt.x(v.cores)}**` : 'n/a'],
    ['processes (Spillway: planned at ≤ 1 core each; decode workers let one use more, so this is conservative)', String(s.processes), v ? '1 (multi-threaded)' : 'n/a'],
    [`**memory** (peak RSS ${fmt.bytes(s.peakRssBytes)} per process measured, ${m})`, `**${fmt.bytes(s.memoryBytes)}**`, v ? `**${fmt.bytes(v.memoryBytes)}** (peak ${fmt.bytes(v.peakRssBytes)})` : 'n/a'],
    ['spool bytes per sample (measured)', s.spoolBytesPerSample === null ? 'n/a' : `${s.spoolBytesPerSample} B`, 'n/a'],
    [
      `**spool disk** for a ${duration(z.planOutageSec)} outage of one of ${z.nodes} nodes (${m}, + one segment)`,
      `**${fmt.bytes(s.diskOneNodeBytes)}** in total; ${fmt.bytes(s.diskPerNodeCapBytes)} per process (-spool.maxDiskUsagePerNode)`,
      'not measured',
    ],
    [`spool disk for a ${duration(z.planOutageSec)} outage of all nodes (${m})`, fmt.bytes(s.diskAllNodesBytes), 'not measured'],
    [
      'catch-up after that one-node outage (at the measured drain rate)',
      s.catchUpSecondsOneNode === null ? 'n/a' : `≈ ${duration(s.catchUpSecondsOneNode)} (${fmt.rate(s.backlogDrainPerSec ?? NaN)} per process)`,
      'n/a',
    ],
  ];
  return table(['', 'Spillway', 'vmagent (same load, same run)'], rows);
}

export const capacity: Scenario = async (b) => {
  const o = b.o;
  const samplesPerSec = (o.hosts * o.seriesPerHost) / o.intervalSec;
  const simHosts = Math.max(1, Math.min(o.hosts, Math.floor(o.maxSimSeries / o.seriesPerHost)));
  const fleet = b.fleetSpec(simHosts);
  if (simHosts < o.hosts) b.notes.push(`The fleet is simulated with ${simHosts} of its ${o.hosts} hosts (${simHosts * o.seriesPerHost} series, --max-sim-series): the cost per sample does not depend on how many hosts send it (Spillway keeps no per-series state).`);

  const swSink = await b.startSink('spillway', o.nodes);
  const sw = await b.startSpillway(swSink.urls);
  const subjects: Subject[] = [await b.subject('spillway', sw, swSink, fleet)];
  const peer = await peerSubject(b, fleet);
  if (peer) subjects.push(peer);
  b.startMonitor();
  b.event(`fleet: ${fmt.n(o.hosts)} hosts × ${fmt.n(o.seriesPerHost)} series every ${o.intervalSec} s = ${fmt.rate(samplesPerSec)}; simulating ${simHosts} hosts`);

  // 1. Cost per sample, side by side.
  await warmUp(b, subjects, o.warmup);
  const rounds = await interleavedRounds(b, subjects, o.rounds, o.duration);
  const summaries: Record<string, TargetSummary> = {};
  for (const s of subjects) summaries[s.name] = await summarizeTarget(b, s, rounds, true);
  const swSum = summaries['spillway']!;

  // 2. Spool probe: one node down under open-loop load, then back.
  const s = subjects[0]!;
  const probeRate = Math.max(1000, Math.min(samplesPerSec, 0.6 * swSum.acceptedSamplesPerSec));
  let probe: OutageFigures | null = null;
  if (o.outage > 0) {
    b.phase = 'spool probe';
    const victim = o.nodes - 1;
    const probeRound = await measureWindow(b, s, { label: 'spool probe', mode: 'open', drainLimitSec: 60 }, async () => {
      const load = s.driver.runPhase({ maxRequests: b.o.maxRequests, mode: 'open', rate: probeRate, durationMs: (1 + o.outage + 3) * 1000, drainMs: 10_000 });
      const f = outageDuring(b, s, victim, { beforeSec: 1, outageSec: o.outage, rate: probeRate, catchUpLimitSec: 60 }).then((x) => (probe = x));
      await Promise.all([load, f]);
    });
    rounds.push(probeRound);
  }
  // Loss and order over everything Spillway was sent, the probe included.
  const swFinal = await summarizeTarget(b, s, rounds.filter((r) => r.label !== 'spool probe'), true);
  summaries['spillway'] = { ...swSum, loss: swFinal.loss, duplicates: swFinal.duplicates, outOfOrder: swFinal.outOfOrder, unknown: swFinal.unknown, labelMismatch: swFinal.labelMismatch };
  const pr = probe as OutageFigures | null;
  if (pr?.spoolBytesPerSample) summaries['spillway'].spoolBytesPerSample = pr.spoolBytesPerSample;

  const sizing = size({ samplesPerSec, margin: o.margin, planOutageSec: o.planOutage, nodes: o.nodes, sw: summaries['spillway'], va: summaries['vmagent'] ?? null, probe: pr });
  const list = Object.values(summaries);
  const sections = [
    {
      title: 'Sizing',
      markdown:
        `Fleet: **${fmt.n(o.hosts)} hosts × ${fmt.n(o.seriesPerHost)} series every ${o.intervalSec} s = ${fmt.rate(samplesPerSec)}**, ${o.nodes} storage nodes, planned outage ${duration(o.planOutage)}, margin ${Math.round(o.margin * 100)} %.\n\n` +
        sizingTable(sizing) +
        `\n\nMeasured here: closed loop on one pinned core, Spillway accepted ${fmt.rate(swSum.acceptedSamplesPerSec)} with ${swSum.coresBusy} cores busy` +
        (summaries['vmagent'] ? `, vmagent ${fmt.rate(summaries['vmagent'].acceptedSamplesPerSec)} with ${summaries['vmagent'].coresBusy}` : '') +
        '. Cores come from CPU time per sample (ingest, spool and delivery together), so they hold on a quieter machine too; the closed-loop rates do not. ' +
        'Memory is the peak RSS under closed-loop load: the spool keeps only -spool.memoryCacheSize per node in memory, so a long outage costs disk, not RAM (see memory-disk.svg). ' +
        'Disk assumes the backlog is spread evenly over the processes; add the replay headroom you want (a node returning after an outage receives its backlog and its live share together).',
    },
    { title: 'Side by side', markdown: comparison(list, rounds.filter((r) => r.label !== 'spool probe')) },
  ];
  if (pr) sections.push({ title: 'Spool probe (one node down)', markdown: outageTable(pr) });
  return {
    title: `capacity (${fmt.n(o.hosts)} hosts × ${fmt.n(o.seriesPerHost)} series / ${o.intervalSec} s, ${duration(o.planOutage)} outage)`,
    fleet: { ...fleetInfo(b, s), hosts: simHosts },
    targets: summaries,
    rounds,
    details: { capacity: sizing, probe: pr },
    sections,
    lostSamples: list.reduce((n, t) => n + (t.loss?.lost ?? 0), 0),
  };
};
