// outage: open-loop load at a fixed rate; one storage node fails (down, 503, reset or stall)
// for --outage seconds, then comes back. Spillway keeps acknowledging into that node's spool
// and replays it afterwards. Measured: backlog and spool bytes per sample at the end of the
// outage, catch-up time and replay rate after it, ack latency before / during / after, and
// loss, duplicates and order at the sink.
import type { Bench, Subject } from '../harness/context.js';
import { measureWindow, round, summarizeTarget } from '../harness/measure.js';
import type { NodeStatus, SpillwayTarget } from '../harness/targets.js';
import type { LatencySummary } from '../load/driver.js';
import { fmt, table } from '../report/report.js';
import { fleetInfo, type Scenario } from './types.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function nodeStatus(t: SpillwayTarget, url: string): Promise<NodeStatus | null> {
  const st = await t.status();
  return st?.nodes.find((n) => n.node === url) ?? null;
}

export interface OutageFigures {
  node: string;
  failMode: string;
  outageSeconds: number;
  rate: number;
  /** The failed node's queue when it came back. */
  backlogSamples: number;
  backlogBytes: number;
  backlogDiskBytes: number | null;
  spoolBytesPerSample: number | null;
  diskBytesPerSample: number | null;
  /** From the node's return until it received its first request; null if it did not in time. */
  firstDeliverySeconds: number | null;
  /** From the node's return until its queue was empty; null if it never emptied in time. */
  catchUpSeconds: number | null;
  /** Samples the node received per second during catch-up (backlog plus its share of new load). */
  replaySamplesPerSec: number | null;
  /** Backlog at return / catch-up time. */
  backlogDrainPerSec: number | null;
  latency: { before: LatencySummary; during: LatencySummary; after: LatencySummary };
  missedRequests: number;
}

/**
 * Fail sink listener `victim` for `outageSec` in the middle of `run` (which must be under way),
 * `beforeSec` after it started; returns the outage figures once the node's queue is empty
 * again (or `catchUpLimitSec` after its return).
 */
export async function outageDuring(
  b: Bench,
  s: Subject,
  victim: number,
  opts: { beforeSec: number; outageSec: number; rate: number; catchUpLimitSec: number },
): Promise<OutageFigures> {
  const t = s.target as SpillwayTarget;
  const url = s.sink.urls[victim]!;
  const mode = b.o.failMode;
  s.driver.takeSegment();
  await sleep(opts.beforeSec * 1000);
  const before = s.driver.takeSegment();
  await s.sink.fail(victim, mode, 0);
  const band = b.band(`node ${victim} ${mode}`, 'failure');
  b.event(`node ${victim} (${url}) fails: ${mode} for ${opts.outageSec} s`);
  await sleep(opts.outageSec * 1000);
  const atReturn = await nodeStatus(t, url);
  const during = s.driver.takeSegment();
  const requestsBefore = (await s.sink.stats()).ports[victim]!.requests;
  await s.sink.fail(victim, 'ok', 0);
  b.endBand(band);
  const back = performance.now();
  let firstDelivery: number | null = null;
  const watchFirst = b.waitFor(async () => {
    const st = await s.sink.stats();
    if (st.ports[victim]!.requests > requestsBefore) {
      firstDelivery = (performance.now() - back) / 1000;
      return true;
    }
    return false;
  }, opts.catchUpLimitSec * 1000, 50);
  b.event(
    `node ${victim} back; its queue: ${fmt.n(atReturn?.pendingSamples ?? NaN)} samples, ${fmt.bytes(atReturn?.pendingBytes)} (${fmt.bytes(atReturn?.diskBytes)} on disk)`,
  );
  let caughtUp: number | null = null;
  let atCatchUp: NodeStatus | null = null;
  await b.waitFor(async () => {
    const n = await nodeStatus(t, url);
    if (n && (n.pendingRecords === 0 || (n.oldestUnsentAgeSeconds < 1 && n.state !== 'down'))) {
      caughtUp = (performance.now() - back) / 1000;
      atCatchUp = n;
      return true;
    }
    return false;
  }, opts.catchUpLimitSec * 1000, 100);
  await watchFirst;
  if (caughtUp !== null) b.event(`node ${victim} caught up ${fmt.s(caughtUp)} after its return`);
  else b.event(`node ${victim} had not caught up ${opts.catchUpLimitSec} s after its return`);
  const after = s.driver.takeSegment();
  const backlog = atReturn?.pendingSamples ?? 0;
  const sentDuring = atCatchUp && atReturn ? (atCatchUp as NodeStatus).sentSamples - atReturn.sentSamples : null;
  return {
    node: url,
    failMode: mode,
    outageSeconds: opts.outageSec,
    rate: Math.round(opts.rate),
    backlogSamples: backlog,
    backlogBytes: atReturn?.pendingBytes ?? 0,
    backlogDiskBytes: atReturn?.diskBytes ?? null,
    spoolBytesPerSample: backlog > 0 ? round(atReturn!.pendingBytes / backlog, 1) : null,
    diskBytesPerSample: backlog > 0 && atReturn?.diskBytes !== undefined ? round(atReturn.diskBytes / backlog, 1) : null,
    firstDeliverySeconds: firstDelivery === null ? null : round(firstDelivery, 2),
    catchUpSeconds: caughtUp === null ? null : round(caughtUp, 2),
    replaySamplesPerSec: caughtUp && sentDuring !== null ? Math.round(sentDuring / caughtUp) : null,
    backlogDrainPerSec: caughtUp ? Math.round(backlog / caughtUp) : null,
    latency: { before, during, after },
    missedRequests: s.driver.counters.missed,
  };
}

export function outageTable(f: OutageFigures): string {
  const lat = (l: LatencySummary) => (l.count ? `${fmt.ms(l.p50)} / ${fmt.ms(l.p99)} / ${fmt.ms(l.max)}` : 'n/a');
  return table(
    ['', ''],
    [
      ['failed node', `${f.node} (${f.failMode} for ${f.outageSeconds} s)`],
      ['load', `${fmt.rate(f.rate)} open loop (requests that could not start on time: ${f.missedRequests})`],
      ['its queue at return', `${fmt.n(f.backlogSamples)} samples, ${fmt.bytes(f.backlogBytes)} pending, ${fmt.bytes(f.backlogDiskBytes)} spool files on disk`],
      ['spool bytes per sample (pending / on disk)', `${f.spoolBytesPerSample ?? 'n/a'} B / ${f.diskBytesPerSample ?? 'n/a'} B`],
      ['first request to the node after its return', fmt.s(f.firstDeliverySeconds)],
      ['catch-up time (return → queue empty)', fmt.s(f.catchUpSeconds)],
      ['replay rate to the node (backlog + live share)', f.replaySamplesPerSec === null ? 'n/a' : fmt.rate(f.replaySamplesPerSec)],
      ['backlog drained per second', f.backlogDrainPerSec === null ? 'n/a' : fmt.rate(f.backlogDrainPerSec)],
      ['ack latency p50 / p99 / max before', lat(f.latency.before)],
      ['… during the outage', lat(f.latency.during)],
      ['… after (catch-up)', lat(f.latency.after)],
    ],
  );
}

export const outage: Scenario = async (b) => {
  const o = b.o;
  const sink = await b.startSink('spillway', o.nodes);
  const { sw, s, rate } = await b.spillwayUnderLoad(sink, sink.urls);
  const victim = o.nodes - 1;
  const before = o.duration;
  const after = Math.max(o.duration, 5);
  let figures: OutageFigures | null = null;
  b.phase = 'load';
  const round1 = await measureWindow(b, s, { label: 'outage run', mode: 'open', drainLimitSec: 60 }, async () => {
    const load = s.driver.runPhase({ maxRequests: b.o.maxRequests, mode: 'open', rate, durationMs: (before + o.outage + after) * 1000, drainMs: 10_000 });
    b.phase = 'before the outage';
    const f = outageDuring(b, s, victim, { beforeSec: before, outageSec: o.outage, rate, catchUpLimitSec: 60 }).then((x) => {
      figures = x;
      b.phase = 'after';
    });
    setTimeout(() => (b.phase = 'outage'), before * 1000).unref();
    await Promise.all([load, f]);
  });
  b.phase = 'verifying';
  const target = await summarizeTarget(b, s, [round1], true);
  const f = figures as OutageFigures | null;
  if (f?.spoolBytesPerSample) target.spoolBytesPerSample = f.spoolBytesPerSample;
  return {
    title: `outage (node ${victim} of ${o.nodes}: ${o.failMode} for ${o.outage} s at ${fmt.rate(rate)})`,
    fleet: fleetInfo(b, s),
    targets: { spillway: target },
    rounds: [round1],
    details: { outage: f },
    sections: f
      ? [
          {
            title: 'Outage',
            markdown:
              outageTable(f) +
              '\n\nThe failed node\'s share of every request is acknowledged from the spool while it is away; catch-up is the time from its return until its queue is empty, with the load still running. ' +
              'Spillway retries with -remoteWrite.retryMinInterval=200ms and -remoteWrite.retryMaxInterval=2s here (production defaults are 1s and 1m, which can add up to a minute before the first replay).',
          },
        ]
      : [],
    lostSamples: target.loss?.lost ?? 0,
  };
};
