// steady: the most samples/s each target sustains, closed loop (every connection sends its
// next request as soon as the last one is acknowledged), Spillway and vmagent interleaved
// round by round in the same run so both see the same box (PERF-NOTES: interleave, rotate
// the order, report median and spread; CPU time is the per-core figure).
import type { Bench, Subject } from '../harness/context.js';
import { measureRound, summarizeTarget, type RoundResult, type TargetSummary } from '../harness/measure.js';
import { fmt, table } from '../report/report.js';
import { peerSubject } from './peer.js';
import { fleetInfo, type Scenario, type ScenarioResult } from './types.js';

export async function warmUp(b: Bench, subjects: Subject[], seconds: number): Promise<void> {
  if (seconds <= 0) return;
  for (const s of subjects) {
    b.phase = `warm-up ${s.name}`;
    const band = b.band(`warm-up ${s.name}`, 'phase');
    await s.driver.runPhase({ maxRequests: b.o.maxRequests, mode: 'closed', durationMs: seconds * 1000, drainMs: 10_000 });
    await b.drain(s, 30_000);
    b.endBand(band);
  }
}

/** Interleaved closed-loop rounds, order rotating each round. */
export async function interleavedRounds(b: Bench, subjects: Subject[], rounds: number, seconds: number): Promise<RoundResult[]> {
  const out: RoundResult[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? subjects : [...subjects].reverse();
    for (const s of order) {
      const label = `${r + 1}/${rounds}`;
      b.phase = `round ${label} ${s.name}`;
      const band = b.band(`${s.name} ${label}`, 'phase');
      const res = await measureRound(b, s, { label, mode: 'closed', durationSec: seconds });
      b.endBand(band);
      out.push(res);
      b.event(
        `${s.name} round ${label}: ${fmt.rate(res.acceptedPerSec)} accepted, ${fmt.x(res.cpuSecondsPerMillion)} CPU-s/M samples, ${res.coresBusy} cores busy, p99 ${fmt.ms(res.latencyMs.p99)}, drained in ${fmt.s(res.drainSeconds)}`,
      );
      if (res.drainSeconds === null) b.notes.push(`${s.name} round ${label}: the sink did not receive every acknowledged sample within 30 s of the load stopping.`);
    }
  }
  return out;
}

/** What the side-by-side says, in sentences. */
export function comparison(targets: TargetSummary[], rounds: RoundResult[]): string {
  const L: string[] = [];
  const sw = targets.find((t) => t.name === 'spillway');
  const va = targets.find((t) => t.name === 'vmagent');
  if (sw && va) {
    L.push(
      `Per sample, Spillway used ${fmt.x(sw.cpuSecondsPerMillionSamples / va.cpuSecondsPerMillionSamples)}× the CPU of vmagent ` +
        `(${fmt.x(sw.cpuSecondsPerMillionSamples)} vs ${fmt.x(va.cpuSecondsPerMillionSamples)} CPU-s per million samples) ` +
        `and peaked at ${fmt.bytes(sw.peakRssBytes)} RSS against ${fmt.bytes(va.peakRssBytes)}; ` +
        `closed-loop throughput ${fmt.rate(sw.acceptedSamplesPerSec)} vs ${fmt.rate(va.acceptedSamplesPerSec)}.`,
    );
  }
  for (const t of targets) {
    const rs = rounds.filter((r) => r.subject === t.name);
    const load = Math.max(0, ...rs.map((r) => r.loadSideCores));
    const wait = Math.max(0, ...rs.map((r) => r.othersShare ?? 0));
    const fs = rs.filter((r) => r.fsyncMeanMs !== null);
    if (t.coresBusy < 0.85) {
      let why: string;
      if (wait >= 0.15) why = `the box was busy: other processes (or the hypervisor) took ${(wait * 100).toFixed(0)} % of its CPU, so samples/s is a lower bound and CPU-s per million the figure to trust`;
      else if (load > 0.85) why = `the load side was busy (${load} cores for generator, driver and sink), so this is a lower bound`;
      else if (fs.length > 0)
        why = `acknowledgement latency × connections: requests wait for the spool fsync (${fs.map((r) => `${r.fsyncs} fsyncs, mean ${fmt.ms(r.fsyncMeanMs!)}`).join('; ')}); more --connections (more requests per fsync) raise it`;
      else why = 'acknowledgement latency × connections; more --connections raise it';
      L.push(`${t.name} was not CPU-bound (${t.coresBusy} cores busy): ${why}.`);
    }
  }
  L.push('', 'CPU-seconds per million samples is the figure to plan with: it is measured from /proc over load and drain, so it counts ingest and delivery and is independent of how busy the box was; samples/s is what one pinned core did in this run.');
  return L.join('\n');
}

export const steady: Scenario = async (b) => {
  const o = b.o;
  const swSink = await b.startSink('spillway', o.nodes);
  const sw = await b.startSpillway(swSink.urls);
  const subjects: Subject[] = [await b.subject('spillway', sw, swSink)];
  const peer = await peerSubject(b);
  if (peer) subjects.push(peer);
  b.startMonitor();
  b.event(`started ${subjects.map((s) => `${s.name} (pid ${s.target.proc().pid})`).join(', ')}`);

  await warmUp(b, subjects, o.warmup);
  const rounds = await interleavedRounds(b, subjects, o.rounds, o.duration);
  b.phase = 'verifying';
  const targets: Record<string, TargetSummary> = {};
  for (const s of subjects) targets[s.name] = await summarizeTarget(b, s, rounds, true);
  const list = Object.values(targets);
  const result: ScenarioResult = {
    title: `steady (closed loop, ${o.connections} connections${peer ? ', Spillway vs vmagent' : ''})`,
    fleet: fleetInfo(b, subjects[0]!),
    targets,
    rounds,
    details: {},
    sections: [
      { title: 'Side by side', markdown: comparison(list, rounds) },
      {
        title: 'Per round',
        markdown: table(
          ['target', 'CPU-s/M per round', 'accepted/s per round', 'load side cores', 'CPU taken by others', 'fsyncs (mean)'],
          list.map((t) => {
            const rs = rounds.filter((r) => r.subject === t.name);
            return [
              t.name,
              rs.map((r) => fmt.x(r.cpuSecondsPerMillion)).join(', '),
              rs.map((r) => fmt.rate(r.acceptedPerSec)).join(', '),
              rs.map((r) => r.loadSideCores).join(', '),
              rs.map((r) => (r.othersShare === null ? 'n/a' : `${(r.othersShare * 100).toFixed(0)} %`)).join(', '),
              rs.map((r) => (r.fsyncs === null ? 'n/a' : `${r.fsyncs} (${fmt.ms(r.fsyncMeanMs ?? NaN)})`)).join(', '),
            ];
          }),
        ),
      },
    ],
    lostSamples: list.reduce((n, t) => n + (t.loss?.lost ?? 0), 0),
  };
  return result;
};
