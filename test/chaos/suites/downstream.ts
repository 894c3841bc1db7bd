// Downstream faults against a running Spillway: six nodes, RF 1, each with its own trouble
// for the fault phase while clients keep writing: one healthy, one that stalls past
// -remoteWrite.sendTimeout, one flapping (connection refused), one answering 500 and 429
// with Retry-After, one resetting connections mid-body, and one answering 400 for one
// particular record. Then every node heals and the queues drain. Every acknowledged sample
// must arrive, in order, except the refused record, which must be in that node's dead-letter
// file and counted; the healthy node must not notice the others' trouble.

import { createHash } from 'node:crypto';
import { writeRequestBody } from '../../integration/helpers/prw.js';
import { Rng, percentile, sized, sleep, type SuiteOptions } from '../lib/common.js';
import { VERDICT_COLUMNS, analyzeArrivals, decodeBody, replicaNodes, seriesKey, verdictRow, verdicts, type AckedSample, type Labels } from '../lib/deliveries.js';
import { LoopbackClient, PRW1_HEADERS, metricSum } from '../lib/http.js';
import { Report, fmt, type SuiteResult } from '../lib/report.js';
import { ChaosSink, type Answer } from '../lib/sink.js';
import { drained, launch, metrics, readDeadLetters } from '../lib/spillway.js';

const SIZES = {
  ci: { faultMs: 8_000, clients: 2, seriesPerClient: 60, pauseMs: 15, drainTimeoutMs: 45_000 },
  long: { faultMs: 60_000, clients: 4, seriesPerClient: 120, pauseMs: 5, drainTimeoutMs: 120_000 },
};

const ROLES = ['healthy', 'slow (stalls > sendTimeout)', 'flapping (refused)', '500 / 429 + Retry-After', 'reset mid-body', '400 for one record'] as const;
const HEALTHY = 0;
const SLOW = 1;
const FLAPPING = 2;
const ERRORS = 3;
const RESETS = 4;
const POISON = 5;
const SEND_TIMEOUT_MS = 1000;
const RETRY_AFTER_S = 1;

const hashOf = (b: Buffer) => createHash('sha1').update(b).digest('hex');

export async function downstream(opts: SuiteOptions): Promise<SuiteResult> {
  const p = sized(opts, SIZES);
  const rep = new Report('downstream faults: slow, flapping, 500/429, resets, one 400', `${opts.size}, ${fmt.s(p.faultMs)} of faults`);
  const rng = new Rng(opts.seed);
  let phase: 'fault' | 'heal' = 'fault';
  let stopped = false;
  try {
    const sinks: ChaosSink[] = [];
    for (let i = 0; i < ROLES.length; i++) {
      const s = await new ChaosSink(`node${i}`).start();
      opts.t.teardown(() => s.stop());
      sinks.push(s);
    }
    const nodeIds = sinks.map((s) => `${s.url}/api/v1/write`);

    // The one record node POISON refuses: a series of its own, in a request of its own.
    let poisonLabels: Labels = [];
    for (let k = 0; ; k++) {
      poisonLabels = [['__name__', 'chaos_poison'], ['k', String(k)]];
      if (replicaNodes(nodeIds, 1, poisonLabels)[0] === POISON) break;
    }
    const poisonKey = seriesKey(poisonLabels);
    const carriesPoison = (body: Buffer) => {
      try {
        return decodeBody(body).some((s) => s.series === poisonKey);
      } catch {
        return false;
      }
    };

    // Per-body attempt history at the 500/429 node, to see Retry-After honoured.
    const errorAttempts = new Map<string, { at: number; kind: string }[]>();
    let stalls = 0;
    let flapWindows = 0;
    let poisonAttempts = 0;
    sinks[SLOW]!.decider = (x, stage) => {
      if (stage !== 'end' || phase !== 'fault') return undefined;
      if (x.n % 3 === 0) {
        stalls++;
        return 'stall';
      }
      return undefined;
    };
    let errorKind: Answer = 'ok';
    sinks[ERRORS]!.decider = (x, stage) => {
      if (stage !== 'end') return undefined;
      const a = phase === 'fault' ? errorKind : 'ok';
      const h = hashOf(x.body!);
      const list = errorAttempts.get(h) ?? [];
      list.push({ at: Date.now(), kind: typeof a === 'string' ? a : String(a.status) });
      errorAttempts.set(h, list);
      return a;
    };
    sinks[RESETS]!.decider = (_x, stage) => (stage === 'start' && phase === 'fault' && rng.chance(0.5) ? 'reset-mid-body' : undefined);
    sinks[POISON]!.decider = (x, stage) => {
      if (stage !== 'end' || !carriesPoison(x.body!)) return undefined;
      poisonAttempts++;
      return { status: 400, body: 'chaos: this record is refused for good' };
    };

    const sw = await launch(
      [
        ...nodeIds.map((u) => `-remoteWrite.url=${u}`),
        '-replicationFactor=1',
        `-remoteWrite.sendTimeout=${SEND_TIMEOUT_MS}ms`,
        '-remoteWrite.retryMinInterval=50ms',
        '-remoteWrite.retryMaxInterval=500ms',
        '-loggerLevel=ERROR',
      ],
      { t: opts.t },
    );

    const labelsOf = (c: number, s: number): Labels => [
      ['__name__', 'chaos_downstream'],
      ['client', String(c)],
      ['series', String(s)],
    ];
    const replicas = new Map<string, number[]>([[poisonKey, [POISON]]]);
    for (let c = 0; c < p.clients; c++) {
      for (let s = 0; s < p.seriesPerClient; s++) replicas.set(seriesKey(labelsOf(c, s)), replicaNodes(nodeIds, 1, labelsOf(c, s)));
    }
    const base = Date.now() - 3_600_000;
    const ackedSamples: AckedSample[] = [];
    const statuses: Record<string, number> = {};
    const client = new LoopbackClient(sw.url, { connections: p.clients + 1 });
    const post = async (body: Buffer): Promise<boolean> => {
      for (let attempt = 0; attempt < 50; attempt++) {
        let status: number | string;
        try {
          status = (await client.post('/api/v1/write', body, PRW1_HEADERS)).status;
        } catch {
          status = 'no answer';
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 204) return true;
        await sleep(50);
      }
      return false;
    };
    const runClient = async (c: number) => {
      for (let seq = 0; !stopped; seq++) {
        const ts = base + seq * 10;
        const body = writeRequestBody(Array.from({ length: p.seriesPerClient }, (_, s) => ({ labels: labelsOf(c, s), samples: [{ value: seq, timestamp: ts }] })));
        if (await post(body)) {
          const at = Date.now();
          for (let s = 0; s < p.seriesPerClient; s++) ackedSamples.push({ series: seriesKey(labelsOf(c, s)), ts, ackedAt: at });
        }
        await sleep(p.pauseMs);
      }
    };
    const flap = async () => {
      while (phase === 'fault') {
        await sleep(rng.int(300, 900));
        if (phase !== 'fault') break;
        await sinks[FLAPPING]!.down();
        flapWindows++;
        await sleep(rng.int(300, 900));
        await sinks[FLAPPING]!.up();
      }
      await sinks[FLAPPING]!.up();
    };
    const errorWindows = async () => {
      const kinds: Answer[] = [{ status: 500, body: 'chaos: internal error' }, { status: 429, headers: { 'retry-after': String(RETRY_AFTER_S) }, body: 'chaos: slow down' }];
      for (let i = 0; phase === 'fault'; i++) {
        errorKind = kinds[i % 2]!;
        await sleep(rng.int(600, 1500));
        errorKind = 'ok';
        await sleep(rng.int(200, 600));
      }
    };

    const clients = Array.from({ length: p.clients }, (_, c) => runClient(c));
    const troubles = [flap(), errorWindows()];
    await sleep(p.faultMs / 2);
    const poisonTs = base + 1;
    const poisonAcked = await post(writeRequestBody([{ labels: poisonLabels, samples: [{ value: 42, timestamp: poisonTs }] }]));
    if (poisonAcked) ackedSamples.push({ series: poisonKey, ts: poisonTs, ackedAt: Date.now() });
    await sleep(p.faultMs / 2);
    phase = 'heal';
    await Promise.all(troubles);
    await sleep(1000);
    stopped = true;
    await Promise.all(clients);
    await client.close();
    const drainStart = Date.now();
    const isDrained = await drained(sw.url, p.drainTimeoutMs);
    const drainMs = Date.now() - drainStart;
    const m = await metrics(sw.url);
    const alive = sw.proc.running;

    const deadLetters = nodeIds.map((id) => readDeadLetters(sw.spoolPath, id));
    const poisonLetters = deadLetters[POISON]!;
    const letterSamples = poisonLetters.flatMap((d) => {
      try {
        return decodeBody(d.body);
      } catch {
        return [];
      }
    });
    const excused = (n: number, series: string, ts: number) => n === POISON && letterSamples.some((s) => s.series === series && s.ts === ts);
    const deliveries = sinks.map((s) => analyzeArrivals(s.received));
    const v = verdicts(
      sinks.map((s, i) => `${s.name} ${ROLES[i]}`),
      replicas,
      ackedSamples,
      deliveries,
      excused,
    );
    rep.table('per node (samples)', VERDICT_COLUMNS, v.map(verdictRow));
    const rejected = nodeIds.map((id) => metricSum(m, 'spillway_node_rejected_records_total', { node: id }));
    const failures = nodeIds.map((id) => metricSum(m, 'spillway_node_send_failures_total', { node: id }));
    rep.table(
      'faults seen by each node (attempts by answer) and counted by Spillway',
      ['node', 'attempts', 'ok', 'stall', 'refused windows', '500', '429', 'reset mid-body', '400', 'send failures', 'rejected records', 'dead letters'],
      sinks.map((s, i) => [
        `${s.name} ${ROLES[i]}`,
        s.attempts,
        s.byAnswer.ok ?? 0,
        s.byAnswer.stall ?? 0,
        i === FLAPPING ? flapWindows : 0,
        s.byAnswer['500'] ?? 0,
        s.byAnswer['429'] ?? 0,
        s.byAnswer['reset-mid-body'] ?? 0,
        s.byAnswer['400'] ?? 0,
        failures[i]!,
        rejected[i]!,
        deadLetters[i]!.length,
      ]),
    );

    // Retry-After: the next attempt of a body answered 429 must come at least that late.
    const gaps: number[] = [];
    for (const list of errorAttempts.values()) {
      for (let i = 0; i + 1 < list.length; i++) if (list[i]!.kind === '429') gaps.push(list[i + 1]!.at - list[i]!.at);
    }
    const sum = (f: (x: (typeof v)[number]) => number) => v.reduce((n, x) => n + f(x), 0);
    const healthy = v[HEALTHY]!;
    const healthyDelays: number[] = [];
    for (const a of ackedSamples) {
      const at = deliveries[HEALTHY]!.firstAt.get(a.series)?.get(a.ts);
      if (at !== undefined) healthyDelays.push(Math.max(0, at - a.ackedAt));
    }

    rep.info('requests acknowledged / client answers', `${fmt.int(ackedSamples.length)} samples; ${Object.entries(statuses).map(([k, n]) => `${k}: ${n}`).join(', ')}`);
    rep.check('all queues drained after healing', isDrained, fmt.s(drainMs));
    rep.check('lost acknowledged samples (all nodes, dead letters excepted)', sum((x) => x.lost) === 0, `${sum((x) => x.lost)}${v.some((x) => x.lostExamples.length) ? ` e.g. ${v.flatMap((x) => x.lostExamples).slice(0, 3).join('; ')}` : ''}`);
    rep.check('out-of-order deliveries (all nodes)', sum((x) => x.outOfOrder) === 0, sum((x) => x.outOfOrder));
    rep.check('misrouted samples', sum((x) => x.misrouted) === 0, sum((x) => x.misrouted));
    rep.check('healthy node unaffected: ack → delivery p99 < 1 s, max < 3 s', percentile(healthyDelays, 99) < 1000 && healthy.delayMax < 3000, `p50 ${fmt.ms(percentile(healthyDelays, 50))}, p99 ${fmt.ms(percentile(healthyDelays, 99))}, max ${fmt.ms(healthy.delayMax)}`);
    rep.check('slow node: stalls past sendTimeout happened and were retried', stalls > 0 && (failures[SLOW] ?? 0) > 0, `${stalls} stalls, ${failures[SLOW]} send failures`);
    rep.check('flapping node: refused while down, delivered after', (failures[FLAPPING] ?? 0) > 0, `${failures[FLAPPING]} send failures`);
    rep.check('500/429 node: both answered and retried', (sinks[ERRORS]!.byAnswer['500'] ?? 0) > 0 && (sinks[ERRORS]!.byAnswer['429'] ?? 0) > 0, `500: ${sinks[ERRORS]!.byAnswer['500'] ?? 0}, 429: ${sinks[ERRORS]!.byAnswer['429'] ?? 0}`);
    rep.check(
      `429 + Retry-After: ${RETRY_AFTER_S} s honoured (next attempt of the same record ≥ ${RETRY_AFTER_S * 1000 - 100} ms later)`,
      gaps.length > 0 && Math.min(...gaps) >= RETRY_AFTER_S * 1000 - 100,
      gaps.length ? `min ${fmt.ms(Math.min(...gaps))} over ${gaps.length} retries` : 'no retry after a 429 seen',
    );
    rep.check('reset node: connections cut mid-body, then delivered', (sinks[RESETS]!.byAnswer['reset-mid-body'] ?? 0) > 0, `${sinks[RESETS]!.byAnswer['reset-mid-body'] ?? 0} resets`);
    rep.check('the 400 record was acknowledged to its client', poisonAcked, String(poisonAcked));
    // A refused batch is retried record by record, so the record may be refused twice: in its
    // batch, then alone. More would be retrying a permanent refusal.
    rep.check('the 400 record not retried (refused at most twice: in its batch, then alone)', poisonAttempts >= 1 && poisonAttempts <= 2, poisonAttempts);
    rep.check(
      'the 400 record is in the dead-letter file, alone, with status 400',
      poisonLetters.length === 1 && poisonLetters[0]!.status === 400 && letterSamples.length === 1 && letterSamples[0]!.series === poisonKey,
      poisonLetters.map((d) => `status ${d.status}, ${d.samples} sample(s)`).join('; ') || 'none',
    );
    rep.check('spillway_node_rejected_records_total: 1 on that node, 0 elsewhere', rejected[POISON] === 1 && rejected.every((r, i) => i === POISON || r === 0), rejected.join(' / '));
    rep.check('no dead letters on other nodes', deadLetters.every((d, i) => i === POISON || d.length === 0), deadLetters.map((d) => d.length).join(' / '));
    rep.check('the 400 node kept delivering after it', v[POISON]!.lost === 0 && v[POISON]!.delivered > 0, `${v[POISON]!.delivered} samples delivered`);
    rep.check('Spillway alive at the end', alive, alive ? 'running' : sw.proc.describeExit());
    if (!rep.checks.every((c) => c.pass !== false)) rep.note(`Spillway log tail:\n${sw.output().slice(-3000)}`);
  } catch (err) {
    rep.abort(err);
  } finally {
    phase = 'heal';
    stopped = true;
  }
  return rep.finish();
}
