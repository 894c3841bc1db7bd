// rebalance: the node list changes between restarts, under open-loop load.
//   A  N nodes; the last one is down, so its queue fills.
//   B  restarted without that node: its queue is orphaned and Spillway re-routes it through
//      the new ring at start (≈1/N of series move); the load continues.
//   C  restarted with a new node added: ≈1/N of series move to it.
// Every acknowledged sample must arrive (on whichever node now owns its series). Series that
// change node are counted at the sink; late arrivals of re-routed old samples show up as out
// of order, which is expected here and reported, not judged.
import type { Bench, Subject } from '../harness/context.js';
import { measureWindow, round, summarizeTarget } from '../harness/measure.js';
import type { SpillwayTarget } from '../harness/targets.js';
import type { SinkStats } from '../sink/server.js';
import { fmt, table } from '../report/report.js';
import { sleep } from './outage.js';
import { fleetInfo, type Scenario } from './types.js';

interface Change {
  what: string;
  nodes: string[];
  stopToReadySeconds: number;
  /** From ready until the log said the removed node's queue was re-routed and deleted. */
  rerouteSeconds: number | null;
  reroute: Record<string, unknown> | null;
}

interface PhaseShare {
  phase: string;
  /** Samples each sink listener received in the phase (index = listener). */
  perNode: number[];
  movedSeries: number;
}

function shares(a: SinkStats, b: SinkStats): number[] {
  return b.ports.map((p, i) => p.samples - (a.ports[i]?.samples ?? 0));
}

async function restartWith(b: Bench, s: Subject, urls: string[], what: string): Promise<Change> {
  const t = s.target as SpillwayTarget;
  s.expectDown = true;
  s.cpu.read();
  const band = b.band(what, 'failure');
  const t0 = performance.now();
  const outputBefore = t.output().length;
  b.event(`restart (SIGTERM, then start) ${what}: nodes ${urls.map((u) => u.replace(/^http:\/\/127\.0\.0\.1:(\d+).*/, ':$1')).join(', ')}`);
  await t.restart(urls);
  const ready = performance.now();
  b.endBand(band);
  s.expectDown = false;
  const change: Change = { what, nodes: urls, stopToReadySeconds: round((ready - t0) / 1000, 2), rerouteSeconds: null, reroute: null };
  b.event(`spillway ready (pid ${t.proc().pid}) ${fmt.s(change.stopToReadySeconds)} after the stop`);
  // A removed node's queue: wait (bounded) for the log line that says it was re-routed.
  if (what.startsWith('remove')) {
    await b.waitFor(() => {
      const out = t.output().slice(outputBefore);
      const line = out.split('\n').find((l) => l.includes('removed node queue re-routed and deleted'));
      if (!line) return false;
      change.rerouteSeconds = round((performance.now() - ready) / 1000, 2);
      try {
        const j = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
        change.reroute = { records: j['records'], samples: j['samples'], failedRecords: j['failedRecords'], removed: j['removed'] };
      } catch {
        // keep the time only
      }
      return true;
    }, 60_000, 100);
    b.event(change.rerouteSeconds === null ? 'the removed node\'s queue was not re-routed within 60 s' : `removed node's queue re-routed ${fmt.s(change.rerouteSeconds)} after ready: ${JSON.stringify(change.reroute)}`);
  }
  return change;
}

export const rebalance: Scenario = async (b) => {
  const o = b.o;
  const n = o.nodes;
  // Listeners 0..n-1 are the first node list; listener n is the node added later.
  const sink = await b.startSink('spillway', n + 1);
  const first = sink.urls.slice(0, n);
  const removed = n - 1;
  const afterRemoval = sink.urls.slice(0, n - 1);
  const afterAddition = [...afterRemoval, sink.urls[n]!];
  const { sw, s, rate } = await b.spillwayUnderLoad(sink, first);

  const changes: Change[] = [];
  const phases: PhaseShare[] = [];
  // Restarts take a few seconds each; the load runs through them (the driver retries).
  const total = o.duration * 3 + 8;
  const r = await measureWindow(b, s, { label: 'rebalance run', mode: 'open', drainLimitSec: 90 }, async () => {
    const load = s.driver.runPhase({ maxRequests: b.o.maxRequests, mode: 'open', rate, durationMs: total * 1000, drainMs: 20_000 });
    const script = (async () => {
      let st = await sink.stats();
      let moved = st.totals.moved;
      const mark = async (phase: string) => {
        const now = await sink.stats();
        phases.push({ phase, perNode: shares(st, now), movedSeries: now.totals.moved - moved });
        st = now;
        moved = now.totals.moved;
      };
      b.phase = `A: ${n} nodes, node ${removed} down`;
      await sink.fail(removed, 'down', 0);
      const down = b.band(`node ${removed} down`, 'failure');
      await sleep(o.duration * 1000);
      await mark(`A: ${n} nodes, node ${removed} down (its share queues)`);
      b.phase = 'B: node removed';
      changes.push(await restartWith(b, s, afterRemoval, `remove node ${removed}`));
      b.endBand(down);
      await sleep(o.duration * 1000);
      await mark(`B: node ${removed} removed, its queue re-routed`);
      b.phase = 'C: node added';
      changes.push(await restartWith(b, s, afterAddition, `add node ${n}`));
      await sleep(o.duration * 1000);
      await mark(`C: node ${n} added`);
    })();
    await Promise.all([load, script]);
  });
  b.phase = 'verifying';
  const target = await summarizeTarget(b, s, [r], true);
  const seriesTotal = s.gen.info.series;
  const finalStats = await sink.stats();
  return {
    title: `rebalance (${n} nodes → node ${removed} removed → node ${n} added, ${fmt.rate(rate)} open loop)`,
    fleet: fleetInfo(b, s),
    targets: { spillway: target },
    rounds: [r],
    details: { rebalance: { changes, phases, movedTotal: finalStats.totals.moved, series: seriesTotal } },
    sections: [
      {
        title: 'Node list changes',
        markdown: table(
          ['change', 'stop → ready', 're-route of the removed queue', 'records / samples re-routed'],
          changes.map((c) => [
            c.what,
            fmt.s(c.stopToReadySeconds),
            c.what.startsWith('remove') ? fmt.s(c.rerouteSeconds) : 'n/a',
            c.reroute ? `${fmt.n(Number(c.reroute['records']))} / ${fmt.n(Number(c.reroute['samples']))}` : 'n/a',
          ]),
        ),
      },
      {
        title: 'Where samples went',
        markdown:
          table(
            ['phase', ...sink.urls.map((_u, i) => `node ${i}`), 'series that changed node'],
            phases.map((p) => [p.phase, ...p.perNode.map((x) => fmt.n(x)), `${fmt.n(p.movedSeries)} (${((p.movedSeries / seriesTotal) * 100).toFixed(1)} % of ${fmt.n(seriesTotal)})`]),
          ) +
          `\n\nWith rendezvous hashing, removing one of ${n} nodes should move only that node's series (≈${(100 / n).toFixed(0)} %), and adding one to ${n - 1} should move ≈${(100 / n).toFixed(0)} % of series to it. ` +
          `Out-of-order arrivals (${fmt.n(target.outOfOrder)}) are re-routed old samples landing after newer ones of the same series, expected with a node change; lost: **${fmt.n(target.loss?.lost ?? NaN)}**, duplicates: ${fmt.n(target.duplicates)}.`,
      },
    ],
    lostSamples: target.loss?.lost ?? 0,
  };
};
