// crash: open-loop load; a node fails so a backlog builds; Spillway is killed with SIGKILL
// in the middle of it and restarted on the same spool; the node comes back and Spillway is
// killed again in the middle of the replay and restarted. The driver retries what was not
// acknowledged, as vmagent would. Every sample acknowledged with 204 must reach the sinks;
// duplicates are expected (at-least-once) and counted.
import type { Bench, Subject } from '../harness/context.js';
import { measureWindow, round, summarizeTarget } from '../harness/measure.js';
import type { SpillwayTarget } from '../harness/targets.js';
import { fmt, table } from '../report/report.js';
import { nodeStatus, sleep } from './outage.js';
import { fleetInfo, type Scenario } from './types.js';

export interface Restart {
  at: number;
  when: string;
  /** Samples in all queues just before the kill (last status seen). */
  backlogBefore: number | null;
  /** kill -9 → new process ready (spool recovery included). */
  killToReadySeconds: number;
  /** Samples in all queues right after the restart: what recovery found. */
  backlogAfter: number | null;
  /** "spool recovered" log lines of the new process: per node records, bytes, truncated bytes. */
  recovery: Record<string, unknown>[];
}

/** kill -9, start again on the same spool, wait until ready; returns what happened. */
export async function killAndRestart(b: Bench, s: Subject, when: string): Promise<Restart> {
  const t = s.target as SpillwayTarget;
  const before = await t.status();
  const backlogBefore = before ? before.nodes.reduce((n, x) => n + x.pendingSamples, 0) : (s.latest?.backlogSamples ?? null);
  s.expectDown = true;
  const at = b.now();
  const t0 = performance.now();
  const oldPid = t.proc().pid;
  s.cpu.read(); // the last CPU reading of this incarnation
  await t.kill();
  b.event(`kill -9 spillway (pid ${oldPid}) ${when}; ${fmt.n(backlogBefore ?? NaN)} samples queued`);
  const band = b.band(`spillway down (${when})`, 'failure');
  const outputBefore = t.output().length;
  await t.restart();
  const killToReady = (performance.now() - t0) / 1000;
  b.endBand(band);
  s.expectDown = false;
  const after = await t.status();
  const backlogAfter = after ? after.nodes.reduce((n, x) => n + x.pendingSamples, 0) : null;
  // Recovery log lines, merged per node (there is one when a queue is opened and one with the result).
  const byNode = new Map<string, Record<string, unknown>>();
  for (const line of t.output().slice(outputBefore).split('\n')) {
    if (!line.includes('spool recovered')) continue;
    try {
      const j = JSON.parse(line.slice(line.indexOf('{'))) as Record<string, unknown>;
      const { level: _l, time: _t, app: _a, msg: _m, ...rest } = j;
      const node = String(rest['node'] ?? '?');
      byNode.set(node, { ...byNode.get(node), ...rest });
    } catch {
      // not a JSON log line
    }
  }
  const recovery = [...byNode.values()];
  b.event(`spillway ready again (pid ${t.proc().pid}) ${fmt.s(killToReady)} after the kill; recovered ${fmt.n(backlogAfter ?? NaN)} queued samples`);
  return { at: round(at, 2), when, backlogBefore, killToReadySeconds: round(killToReady, 2), backlogAfter, recovery };
}

export const crash: Scenario = async (b) => {
  const o = b.o;
  const sink = await b.startSink('spillway', o.nodes);
  const { sw, s, rate } = await b.spillwayUnderLoad(sink, sink.urls);
  const victim = o.nodes - 1;

  const restarts: Restart[] = [];
  const total = o.duration * 2 + o.outage;
  const r = await measureWindow(b, s, { label: 'crash run', mode: 'open', drainLimitSec: 90 }, async () => {
    const load = s.driver.runPhase({ maxRequests: b.o.maxRequests, mode: 'open', rate, durationMs: total * 1000, drainMs: 15_000 });
    const script = (async () => {
      b.phase = 'load';
      await sleep(o.duration * 1000);
      const url = sink.urls[victim]!;
      await sink.fail(victim, o.failMode, 0);
      const down = b.band(`node ${victim} ${o.failMode}`, 'failure');
      const downAt = performance.now();
      b.event(`node ${victim} fails (${o.failMode}) so a backlog builds`);
      b.phase = 'backlog building';
      await sleep((o.outage / 2) * 1000);
      b.phase = 'crash 1';
      restarts.push(await killAndRestart(b, s, 'under load, with a backlog'));
      b.phase = 'backlog building';
      await sleep(Math.max(500, downAt + o.outage * 1000 - performance.now()));
      await sink.fail(victim, 'ok', 0);
      b.endBand(down);
      b.event(`node ${victim} back`);
      b.phase = 'replay';
      // Kill once the replay is under way: the node has received something and still has a queue.
      const before = (await sink.stats()).ports[victim]!.requests;
      await b.waitFor(async () => {
        const n = await nodeStatus(sw, url);
        const st = await sink.stats();
        return st.ports[victim]!.requests > before + 2 && (n?.pendingSamples ?? 0) > 0;
      }, 10_000, 50);
      b.phase = 'crash 2';
      restarts.push(await killAndRestart(b, s, 'mid-replay'));
      b.phase = 'replay';
    })();
    await Promise.all([load, script]);
  });
  b.phase = 'verifying';
  const target = await summarizeTarget(b, s, [r], true);
  const rows = restarts.map((x) => [
    `${x.at.toFixed(1)} s`,
    x.when,
    fmt.n(x.backlogBefore ?? NaN),
    fmt.s(x.killToReadySeconds),
    fmt.n(x.backlogAfter ?? NaN),
    x.recovery.map((l) => `${String(l['node'] ?? '?').replace(/^http:\/\/127\.0\.0\.1:/, ':')}: ${l['records'] ?? '?'} records${l['truncatedBytes'] ? `, ${l['truncatedBytes']} B torn tail cut` : ''}${l['movedAside'] ? `, ${l['movedAside']} moved aside` : ''}`).join('; ') || 'n/a',
  ]);
  const retries = Object.entries(target.retries).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  return {
    title: `crash (kill -9 under load and mid-replay, ${fmt.rate(rate)} open loop)`,
    fleet: fleetInfo(b, s),
    targets: { spillway: target },
    rounds: [r],
    details: { crash: { restarts, rate, victim: sink.urls[victim] } },
    sections: [
      {
        title: 'Kills and restarts',
        markdown:
          table(['at', 'when', 'queued before', 'kill → ready', 'queued after restart', 'recovery (per node)'], rows) +
          `\n\nThe driver retried what was not acknowledged (${retries}). ` +
          `Acknowledged: ${fmt.n(target.loss?.acked ?? NaN)} samples; lost: **${fmt.n(target.loss?.lost ?? NaN)}**; ` +
          `received but never acknowledged: ${fmt.n(target.loss?.receivedUnacked ?? NaN)}; duplicates: ${fmt.n(target.duplicates)} ` +
          '(at-least-once: a record sent but not checkpointed before the kill is sent again; VictoriaMetrics folds such duplicates). ' +
          'Kill → ready includes starting Node and compiling TypeScript (tsx), not only spool recovery.',
      },
    ],
    lostSamples: target.loss?.lost ?? 0,
  };
};
