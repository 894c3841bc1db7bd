// Crash loop: Spillway is killed with SIGKILL and restarted, cycle after cycle, while several
// clients write and the three nodes (RF 2) go down and up on their own schedules. When it is
// over and everything drained, every acknowledged sample must be on both nodes of its
// replica set; duplicates (re-sends from the checkpoint) are counted, out-of-order
// deliveries and losses must be zero.

import { writeRequestBody } from '../../integration/helpers/prw.js';
import { Rng, percentile, sized, sleep, type SuiteOptions } from '../lib/common.js';
import { VERDICT_COLUMNS, analyzeArrivals, replicaNodes, seriesKey, verdictRow, verdicts, type AckedSample, type Labels } from '../lib/deliveries.js';
import { LoopbackClient, PRW1_HEADERS, metricSum } from '../lib/http.js';
import { Report, fmt, type SuiteResult } from '../lib/report.js';
import { ChaosSink, type Answer } from '../lib/sink.js';
import { drained, launch, metrics, readDeadLetters, recoveryRepairs } from '../lib/spillway.js';

const SIZES = {
  ci: { cycles: 20, clients: 4, seriesPerClient: 20, minUpMs: 300, maxUpMs: 1000, drainTimeoutMs: 60_000 },
  long: { cycles: 100, clients: 6, seriesPerClient: 40, minUpMs: 300, maxUpMs: 2500, drainTimeoutMs: 180_000 },
};

const NODES = 3;
const RF = 2;

export async function crashLoop(opts: SuiteOptions): Promise<SuiteResult> {
  const p = sized(opts, SIZES);
  const rep = new Report('crash loop: kill -9 / restart under load, nodes failing, RF 2 over 3 nodes', `${opts.size}, ${p.cycles} cycles`);
  const rng = new Rng(opts.seed);
  const sinks: ChaosSink[] = [];
  let stopped = false;
  try {
    for (let i = 0; i < NODES; i++) {
      const s = await new ChaosSink(`node${i}`).start();
      opts.t.teardown(() => s.stop());
      sinks.push(s);
    }
    const nodeIds = sinks.map((s) => `${s.url}/api/v1/write`);
    const sw = await launch(
      [
        ...nodeIds.map((u) => `-remoteWrite.url=${u}`),
        `-replicationFactor=${RF}`,
        '-remoteWrite.retryMinInterval=50ms',
        '-remoteWrite.retryMaxInterval=400ms',
        '-remoteWrite.sendTimeout=2s',
        '-loggerLevel=WARN',
      ],
      { t: opts.t, maxLifetimeMs: 0 },
    );

    // Each client owns its series, like one vmagent each, and sends them with a new
    // timestamp per request, one request at a time: acceptance order is timestamp order.
    const labelsOf = (c: number, s: number): Labels => [
      ['__name__', 'chaos_crash_loop'],
      ['client', String(c)],
      ['series', String(s)],
    ];
    const replicas = new Map<string, number[]>();
    for (let c = 0; c < p.clients; c++) {
      for (let s = 0; s < p.seriesPerClient; s++) replicas.set(seriesKey(labelsOf(c, s)), replicaNodes(nodeIds, RF, labelsOf(c, s)));
    }
    const base = Date.now() - 3_600_000;
    const tsOf = (seq: number) => base + seq * 10;
    const acked: { c: number; seq: number; at: number }[] = [];
    const statuses: Record<string, number> = {};
    const unexpected: string[] = [];
    const client = new LoopbackClient(sw.url, { connections: p.clients, timeoutMs: 10_000 });
    const runClient = async (c: number) => {
      let seq = 0;
      while (!stopped) {
        const body = writeRequestBody(
          Array.from({ length: p.seriesPerClient }, (_, s) => ({ labels: labelsOf(c, s), samples: [{ value: seq, timestamp: tsOf(seq) }] })),
        );
        // Like vmagent: the same block again until it is acknowledged.
        while (!stopped) {
          let status: number | string;
          try {
            const res = await client.post('/api/v1/write', body, PRW1_HEADERS);
            status = res.status;
            if (res.status >= 400 && res.status < 500 && unexpected.length < 5) unexpected.push(`${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
          } catch {
            status = 'no answer';
          }
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === 204) {
            acked.push({ c, seq, at: Date.now() });
            break;
          }
          if (typeof status === 'number' && status >= 400 && status < 500) break; // given up, as vmagent does
          await sleep(30);
        }
        seq++;
      }
    };

    // Each node fails on its own schedule: 503, connection resets, 429 with Retry-After, or gone.
    const failures: Answer[] = [{ status: 503, body: 'chaos: unavailable' }, 'reset', { status: 429, headers: { 'retry-after': '1' } }];
    const windows = sinks.map(() => ({ '503': 0, reset: 0, '429': 0, down: 0 }) as Record<string, number>);
    const schedule = async (s: ChaosSink, r: Rng, w: Record<string, number>) => {
      while (!stopped) {
        await sleep(r.int(700, 2500));
        if (stopped) break;
        const kind = r.int(0, failures.length);
        if (kind === failures.length) {
          await s.down();
          w.down!++;
        } else {
          s.mode = failures[kind]!;
          w[['503', 'reset', '429'][kind]!]!++;
        }
        await sleep(r.int(200, 1200));
        s.mode = 'ok';
        await s.up();
      }
    };

    const clients = Array.from({ length: p.clients }, (_, c) => runClient(c));
    const schedules = sinks.map((s, i) => schedule(s, new Rng(opts.seed * 31 + i + 1), windows[i]!));
    const restartMs: number[] = [];
    const ackedAtCycle: number[] = [];
    for (let cycle = 1; cycle <= p.cycles; cycle++) {
      await sleep(rng.int(p.minUpMs, p.maxUpMs));
      sw.kill('SIGKILL');
      await sw.proc.exited;
      ackedAtCycle.push(acked.length);
      await sleep(rng.int(0, 150));
      const t0 = Date.now();
      await sw.restart();
      restartMs.push(Date.now() - t0);
      if (cycle % 5 === 0) opts.log(`crash loop: cycle ${cycle}/${p.cycles}, ${acked.length} requests acknowledged`);
    }
    await sleep(500);
    stopped = true;
    await Promise.all(clients);
    await Promise.all(schedules);
    for (const s of sinks) {
      s.mode = 'ok';
      await s.up();
    }
    await client.close();
    const drainStart = Date.now();
    const isDrained = await drained(sw.url, p.drainTimeoutMs);
    const drainMs = Date.now() - drainStart;
    await sleep(200);
    const m = await metrics(sw.url).catch(() => new Map<string, number>());
    const alive = sw.proc.running;

    // The verdict.
    const ackedSamples: AckedSample[] = [];
    for (const a of acked) {
      for (let s = 0; s < p.seriesPerClient; s++) ackedSamples.push({ series: seriesKey(labelsOf(a.c, s)), ts: tsOf(a.seq), ackedAt: a.at });
    }
    const names = sinks.map((s) => s.name);
    const deliveries = sinks.map((s) => analyzeArrivals(s.received));
    const v = verdicts(names, replicas, ackedSamples, deliveries);
    rep.table('per node (samples)', VERDICT_COLUMNS, v.map(verdictRow));
    // Independent of the router: on how many distinct nodes did each acknowledged sample land?
    let notOnTwo = 0;
    for (const a of ackedSamples) {
      let k = 0;
      for (const d of deliveries) if (d.samples.get(a.series)?.has(a.ts)) k++;
      if (k !== RF) notOnTwo++;
    }
    rep.table(
      'node faults injected: failure windows (503 / reset / 429 + Retry-After / down) and attempts by answer',
      ['node', 'windows 503/reset/429/down', 'attempts', 'ok', '503', '429', 'reset'],
      sinks.map((s, i) => [s.name, `${windows[i]!['503']}/${windows[i]!.reset}/${windows[i]!['429']}/${windows[i]!.down}`, s.attempts, s.byAnswer.ok ?? 0, s.byAnswer['503'] ?? 0, s.byAnswer['429'] ?? 0, s.byAnswer.reset ?? 0]),
    );
    const deadLetters = nodeIds.reduce((n, id) => n + readDeadLetters(sw.spoolPath, id).length, 0);
    const sum = (f: (x: (typeof v)[number]) => number) => v.reduce((n, x) => n + f(x), 0);

    rep.check('kill -9 / restart cycles completed', restartMs.length === p.cycles, `${restartMs.length}/${p.cycles}`);
    const perCycle = ackedAtCycle.map((n, i) => n - (ackedAtCycle[i - 1] ?? 0));
    rep.check('load flowed between crashes (cycles with acks)', perCycle.filter((n) => n > 0).length >= Math.ceil(p.cycles * 0.8), `${perCycle.filter((n) => n > 0).length}/${p.cycles}`);
    rep.info('requests acknowledged (204)', `${fmt.int(acked.length)} (${fmt.int(ackedSamples.length)} samples × RF ${RF})`);
    rep.info('client answers', Object.entries(statuses).map(([k, n]) => `${k}: ${n}`).join(', '));
    rep.check('no 4xx for valid requests', unexpected.length === 0, unexpected.length === 0 ? '0' : unexpected.join(' / '));
    rep.check('all queues drained after the nodes came back', isDrained, fmt.s(drainMs));
    rep.check('lost acknowledged samples (all nodes)', sum((x) => x.lost) === 0, `${sum((x) => x.lost)}${v.some((x) => x.lostExamples.length) ? ` e.g. ${v.flatMap((x) => x.lostExamples).slice(0, 3).join('; ')}` : ''}`);
    rep.check('acknowledged samples not on exactly 2 distinct nodes', notOnTwo === 0, notOnTwo);
    rep.check('out-of-order deliveries (all nodes)', sum((x) => x.outOfOrder) === 0, `${sum((x) => x.outOfOrder)}${deliveries.some((d) => d.examples.length) ? ` e.g. ${deliveries.flatMap((d) => d.examples).slice(0, 2).join('; ')}` : ''}`);
    rep.check('misrouted samples (not in the replica set)', sum((x) => x.misrouted) === 0, sum((x) => x.misrouted));
    rep.check('undecodable bodies delivered', deliveries.every((d) => d.undecodable === 0), deliveries.reduce((n, d) => n + d.undecodable, 0));
    rep.info('duplicates delivered (at-least-once re-sends)', `${fmt.int(sum((x) => x.duplicates))} (${fmt.pct(sum((x) => x.duplicates) / Math.max(1, sum((x) => x.delivered)))})`);
    rep.check('dead letters (no node refused anything)', deadLetters === 0 && metricSum(m, 'spillway_node_rejected_records_total') === 0, deadLetters);
    rep.check('Spillway alive at the end', alive, alive ? 'running' : sw.proc.describeExit());
    rep.info('restart to ready', `p50 ${fmt.ms(percentile(restartMs, 50))}, max ${fmt.ms(Math.max(0, ...restartMs))}`);
    rep.info('recoveries that repaired a torn tail', recoveryRepairs(sw.output()));
    if (!rep.checks.every((c) => c.pass !== false)) rep.note(`Spillway log tail:\n${sw.output().slice(-3000)}`);
  } catch (err) {
    rep.abort(err);
  } finally {
    stopped = true;
  }
  return rep.finish();
}
