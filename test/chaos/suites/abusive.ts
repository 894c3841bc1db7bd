// Abusive clients against a running Spillway with its default admission settings
// (-maxConcurrentInserts, -insert.maxQueueDuration):
//
//   slowloris    many connections that send headers and a few body bytes, then trickle
//                (half trickle the headers instead), while a good client keeps writing
//   burst        2,000 connections at once, each with one small valid request
//   storm        after an outage (kill -9, restart), many clients replay large blocks at
//                once, retrying on 429/503 after Retry-After like vmagent (N/8, then N
//                clients): memory must not follow the bytes the clients offer
//
// Every answer must be 2xx, or 429/503 with Retry-After; never a crash or a dropped
// connection. Memory must stay under a fixed multiple of the warmed-up RSS and must not grow
// with the number of clients; throughput must come back after the storm.

import net from 'node:net';
import { snappyCompress } from '../../../src/protocol/snappy.js';
import { encodeWriteRequest, type MetadataInput, type SeriesInput } from '../../../src/protocol/prw/encode.js';
import { httpRequest, isLoopback, type HttpResult } from '../../integration/helpers/procs.js';
import { prw1 } from '../lib/bodies.js';
import { Rng, RssSampler, percentile, rssBytes, sized, sleep, type SuiteOptions } from '../lib/common.js';
import { LoopbackClient, PRW1_HEADERS } from '../lib/http.js';
import { Report, fmt, type SuiteResult } from '../lib/report.js';
import { ChaosSink } from '../lib/sink.js';
import { drained, launch, type Spillway } from '../lib/spillway.js';

const SIZES = {
  ci: { slowConns: 500, slowMs: 8_000, bigSlowConns: 4, bigSlowMs: 6_000, burstConns: 2_000, stormClients: 2_000, stormBlockKiB: 1024, stormDeadlineMs: 60_000 },
  long: { slowConns: 2_000, slowMs: 160_000, bigSlowConns: 8, bigSlowMs: 30_000, burstConns: 2_000, stormClients: 2_000, stormBlockKiB: 1024, stormDeadlineMs: 180_000 },
};

/** Spillway's -maxInsertRequestSize default: what a slow client declares to reserve the most. */
const MAX_INSERT = 32 << 20;
/** A good write must be answered within this while slow clients hold connections. */
const GOOD_TIMEOUT_MS = 5_000;

/** Peak RSS may reach this multiple of the warmed-up RSS. */
const PEAK_FACTOR = 8;
/** The storm's memory growth must stay under this share of the bytes its clients offer at once. */
const OFFERED_SHARE = 0.25;

function post(url: string, body: Buffer, timeoutMs: number): Promise<HttpResult> {
  return httpRequest(url, { method: 'POST', headers: PRW1_HEADERS, body, timeoutMs });
}

const errCode = (err: Error) => (err as { code?: string }).code ?? err.message.slice(0, 40);

const allowedAnswer = (r: HttpResult) =>
  (r.status >= 200 && r.status < 300) || ((r.status === 429 || r.status === 503) && r.headers['retry-after'] !== undefined);

/** A good client's steady rate (sequential small requests on keep-alive), requests/s. */
async function steadyRate(sw: Spillway, rng: Rng, ms: number): Promise<{ rate: number; failures: number }> {
  const c = new LoopbackClient(sw.url, { connections: 1 });
  const end = Date.now() + ms;
  let n = 0;
  let failures = 0;
  while (Date.now() < end) {
    const r = await c.post('/api/v1/write', snappyCompress(prw1(rng, 20, 1)), PRW1_HEADERS).catch(() => null);
    if (r?.status === 204) n++;
    else failures++;
  }
  await c.close();
  return { rate: (n * 1000) / ms, failures };
}

/**
 * A large block of a replaying vmagent: 300 series, and metadata whose help texts do not
 * compress. Metadata is read past, not forwarded, so the block costs Spillway little beyond
 * holding its body: what grows with the number of clients is then the buffering alone.
 */
function bigBlock(rng: Rng, kib: number): Buffer {
  const now = Date.now();
  const series: SeriesInput[] = Array.from({ length: 300 }, (_, i) => ({
    labels: [
      ['__name__', 'chaos_storm'],
      ['instance', `host-${i}`],
    ],
    samples: [[rng.next(), now]],
  }));
  const metadata: MetadataInput[] = [];
  for (let left = kib * 1024; left > 0; left -= 3000) {
    metadata.push({ type: 1, metricFamilyName: `chaos_storm_${metadata.length}`, help: rng.bytes(2250).toString('base64') });
  }
  return snappyCompress(encodeWriteRequest(series, metadata));
}

export async function abusive(opts: SuiteOptions): Promise<SuiteResult> {
  const p = sized(opts, SIZES);
  const rep = new Report('abusive clients: slowloris, 2,000 connections, reconnect storm', `${opts.size}, ${p.slowConns} slow / ${p.burstConns} burst / ${p.stormClients} storm clients`);
  const rng = new Rng(opts.seed);
  const sockets = new Set<net.Socket>();
  opts.t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  try {
    const sinks: ChaosSink[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await new ChaosSink(`node${i}`).start();
      s.keepBodies = false;
      opts.t.teardown(() => s.stop());
      sinks.push(s);
    }
    const sw = await launch([...sinks.map((s) => `-remoteWrite.url=${s.url}/api/v1/write`), '-replicationFactor=1', '-loggerLevel=ERROR'], { t: opts.t, maxLifetimeMs: 0 });
    const host = new URL(sw.url).hostname;
    if (!isLoopback(host)) throw new Error('loopback only');

    // ---- warm up, baseline
    const warm = new LoopbackClient(sw.url, { connections: 4 });
    for (let i = 0; i < 300; i++) await warm.post('/api/v1/write', snappyCompress(prw1(rng)), PRW1_HEADERS);
    await warm.close();
    await sleep(500);
    const baseline = rssBytes(sw.proc.pid) ?? 0;
    const before = await steadyRate(sw, rng, 2000);
    const rss = new RssSampler(() => sw.proc.pid, 50).start();
    const phaseRows: (string | number)[][] = [];

    // ---- slowloris
    rss.resetPeak();
    const slowStart = Date.now();
    const closedAt: number[] = [];
    /** Connections the server closed, by what they trickled: a body (even i) or headers (odd i). */
    const closedBy = { body: 0, headers: 0 };
    let destroying = false;
    let slowConnectErrors = 0;
    const slow: net.Socket[] = [];
    for (let i = 0; i < p.slowConns; i++) {
      const s = net.connect({ host: '127.0.0.1', port: sw.port });
      sockets.add(s);
      slow.push(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        if (!destroying) {
          closedAt.push(Date.now() - slowStart);
          closedBy[i % 2 === 0 ? 'body' : 'headers']++;
        }
      });
      s.once('connect', () => {
        if (i % 2 === 0) {
          s.write('POST /api/v1/write HTTP/1.1\r\nHost: spillway\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: 100000\r\n\r\n');
          s.write(rng.bytes(10));
        } else {
          s.write('POST /api/v1/write HTTP/1.1\r\nHost: spillway\r\nX-Slow: ');
        }
      });
      if (i % 100 === 99) await sleep(5);
    }
    const trickle = setInterval(() => {
      for (const s of slow) if (!s.destroyed && s.writable) s.write('a');
    }, 1000);
    const goodLat: number[] = [];
    let goodFail = 0;
    const good = new LoopbackClient(sw.url, { connections: 2, timeoutMs: 10_000 });
    while (Date.now() - slowStart < p.slowMs) {
      const t0 = performance.now();
      const r = await good.post('/api/v1/write', snappyCompress(prw1(rng, 20, 1)), PRW1_HEADERS).catch(() => null);
      goodLat.push(performance.now() - t0);
      if (r?.status !== 204) goodFail++;
      await sleep(20);
    }
    clearInterval(trickle);
    await good.close();
    rss.sample();
    const slowPeak = rss.peak;
    const stillOpen = slow.filter((s) => !s.destroyed).length;
    for (const s of slow) if (s.connecting) slowConnectErrors++;
    destroying = true;
    for (const s of slow) s.destroy();
    const closedByServer = p.slowConns - stillOpen;
    phaseRows.push(['slowloris', p.slowConns, `${goodLat.length - goodFail}/${goodLat.length} good 204`, `p99 ${fmt.ms(percentile(goodLat, 99))}`, fmt.mib(slowPeak), `${closedByServer} closed by server in ${fmt.s(p.slowMs)}`]);

    // ---- slow bodies that declare the largest size: they reserve the body budget
    const bigSlow: net.Socket[] = [];
    for (let i = 0; i < p.bigSlowConns; i++) {
      const s = net.connect({ host: '127.0.0.1', port: sw.port });
      sockets.add(s);
      bigSlow.push(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
      s.once('connect', () => {
        s.write(`POST /api/v1/write HTTP/1.1\r\nHost: spillway\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: ${MAX_INSERT}\r\n\r\n`);
        s.write(rng.bytes(10));
      });
    }
    const bigTrickle = setInterval(() => {
      for (const s of bigSlow) if (!s.destroyed && s.writable) s.write('a');
    }, 1000);
    await sleep(300);
    const bigStart = Date.now();
    const bigGood = new LoopbackClient(sw.url, { connections: 4, timeoutMs: GOOD_TIMEOUT_MS });
    const bigAnswers: Record<string, number> = {};
    let bigGoodOk = 0;
    let bigGoodN = 0;
    while (Date.now() - bigStart < p.bigSlowMs) {
      // Four writers at a time, each waiting at most GOOD_TIMEOUT_MS.
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const r = await bigGood.post('/api/v1/write', snappyCompress(prw1(rng, 20, 1)), PRW1_HEADERS).catch((err: Error) => err);
          const key = r instanceof Error ? `no answer in ${GOOD_TIMEOUT_MS / 1000} s` : String(r.status);
          bigAnswers[key] = (bigAnswers[key] ?? 0) + 1;
          bigGoodN++;
          if (!(r instanceof Error) && r.status === 204) bigGoodOk++;
        }),
      );
    }
    clearInterval(bigTrickle);
    await bigGood.close();
    for (const s of bigSlow) s.destroy();
    // Everyone who held or waited for the budget has gone (the good writers above gave up
    // while queued): the budget must be whole again.
    await sleep(1000);
    const probe = new LoopbackClient(sw.url, { connections: 1, timeoutMs: GOOD_TIMEOUT_MS });
    const afterSlow = await probe.post('/api/v1/write', snappyCompress(prw1(rng, 20, 1)), PRW1_HEADERS).then(
      (r) => `${r.status}${r.status === 204 ? '' : ` ${r.body.toString('utf8', 0, 90).trim()}`}`,
      (err: Error) => `no answer in ${GOOD_TIMEOUT_MS / 1000} s (${errCode(err)})`,
    );
    await probe.close();
    const budgetBack = afterSlow === '204';
    if (!budgetBack) {
      // Isolate the phases below from a leaked budget.
      sw.kill('SIGKILL');
      await sw.proc.exited;
      await sw.restart();
    }
    phaseRows.push([
      `slow bodies declaring ${fmt.mib(MAX_INSERT)}`,
      p.bigSlowConns,
      Object.entries(bigAnswers).map(([k, n]) => `${k}: ${n}`).join(', ') + ' (good writes)',
      fmt.s(p.bigSlowMs),
      '',
      '',
    ]);
    await sleep(500);

    // ---- burst: 2,000 connections at once, one small request each
    rss.resetPeak();
    const small = snappyCompress(prw1(rng, 10, 1));
    const burstAnswers: Record<string, number> = {};
    let burstBad = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: p.burstConns }, async () => {
        const r = await post(sw.writeUrl, small, 60_000).catch((err: Error) => err);
        const key = r instanceof Error ? `no answer (${errCode(r)})` : String(r.status);
        burstAnswers[key] = (burstAnswers[key] ?? 0) + 1;
        if (r instanceof Error || !allowedAnswer(r)) burstBad++;
      }),
    );
    const burstMs = Date.now() - t0;
    rss.sample();
    const burstPeak = rss.peak;
    phaseRows.push(['burst', p.burstConns, Object.entries(burstAnswers).map(([k, n]) => `${k}: ${n}`).join(', '), fmt.s(burstMs), fmt.mib(burstPeak), '']);

    // ---- reconnect storms after an outage, with N/4 and N clients
    const block = bigBlock(rng, p.stormBlockKiB);
    const storm = async (clients: number) => {
      sw.kill('SIGKILL');
      await sw.proc.exited;
      await sleep(500);
      await sw.restart();
      await sleep(300);
      const base = rssBytes(sw.proc.pid) ?? 0;
      rss.resetPeak();
      const answers: Record<string, number> = {};
      let bad = 0;
      let acked = 0;
      const start = Date.now();
      const deadline = start + p.stormDeadlineMs;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (Date.now() < deadline) {
            const r = await post(sw.writeUrl, block, 30_000).catch((err: Error) => err);
            const key = r instanceof Error ? `no answer (${errCode(r)})` : String(r.status);
            answers[key] = (answers[key] ?? 0) + 1;
            if (r instanceof Error || !allowedAnswer(r)) bad++;
            if (!(r instanceof Error) && r.status === 204) {
              acked++;
              return;
            }
            const ra = r instanceof Error ? 1 : Number(r.headers['retry-after'] ?? 1);
            // vmagent waits Retry-After; capped here to keep the run short.
            await sleep(Math.min(2000, Math.max(100, ra * 1000)) * (0.5 + rng.next()));
          }
        }),
      );
      const ms = Date.now() - start;
      rss.sample();
      return { clients, answers, bad, acked, ms, base, peak: rss.peak, growth: Math.max(1, rss.peak - base) };
    };
    const few = await storm(Math.max(1, Math.round(p.stormClients / 8)));
    const full = await storm(p.stormClients);
    for (const s of [few, full]) {
      phaseRows.push([
        `storm ×${s.clients} (${p.stormBlockKiB} KiB blocks)`,
        s.clients,
        Object.entries(s.answers).map(([k, n]) => `${k}: ${n}`).join(', '),
        fmt.s(s.ms),
        fmt.mib(s.peak),
        `+${fmt.mib(s.growth)} over ${fmt.mib(s.base)}`,
      ]);
    }
    // Recovered: the storm's backlog delivered, then the same steady client as before.
    const drainStart = Date.now();
    const isDrained = await drained(sw.url, 60_000);
    const drainMs = Date.now() - drainStart;
    const after = await steadyRate(sw, rng, 2000);
    rss.stop();
    rep.table('phases', ['phase', 'connections', 'answers', 'time / latency', 'peak RSS', 'notes'], phaseRows);

    rep.info('warmed-up RSS', fmt.mib(baseline));
    rep.check('slowloris: good client unaffected (all 204, p99 < 1 s)', goodFail === 0 && percentile(goodLat, 99) < 1000, `${goodLat.length - goodFail}/${goodLat.length}, p99 ${fmt.ms(percentile(goodLat, 99))}`);
    rep.check(`slowloris: peak RSS under ${PEAK_FACTOR}× warmed-up`, slowPeak < PEAK_FACTOR * baseline, `${fmt.mib(slowPeak)} (${(slowPeak / baseline).toFixed(1)}×)`);
    rep.info(
      'slowloris: stalled connections closed by the server',
      `${closedByServer}/${p.slowConns} within ${fmt.s(p.slowMs)}${closedAt.length ? `, first after ${fmt.s(Math.min(...closedAt))}` : ''} (connect errors ${slowConnectErrors})`,
    );
    const bodyTricklers = Math.ceil(p.slowConns / 2);
    rep.check(
      'slowloris: every trickling body cut by the server (-insert.minBodyRate, 408)',
      closedBy.body === bodyTricklers,
      `${closedBy.body}/${bodyTricklers} within ${fmt.s(p.slowMs)}; header tricklers closed: ${closedBy.headers}/${p.slowConns - bodyTricklers}`,
    );
    if (p.slowMs >= 150_000) {
      rep.check('slowloris: every stalled connection closed by the server (request/headers timeout)', stillOpen === 0, `${stillOpen} still open after ${fmt.s(p.slowMs)}`);
    }
    rep.check(
      `slow bodies declaring ${fmt.mib(MAX_INSERT)} (×${p.bigSlowConns}): good writes answered 204 within ${GOOD_TIMEOUT_MS / 1000} s`,
      bigGoodOk === bigGoodN && bigGoodN > 0,
      `${bigGoodOk}/${bigGoodN}`,
    );
    rep.check('write budget whole again once slow and abandoned writers left (a write 1 s later: 204 within 5 s)', budgetBack, `${afterSlow}${budgetBack ? '' : '; Spillway restarted for the next phases'}`);
    rep.check('burst: every answer 2xx or 429/503 with Retry-After, none dropped', burstBad === 0, `${burstBad} other of ${p.burstConns} (${fmt.s(burstMs)})`);
    rep.check(`burst: peak RSS under ${PEAK_FACTOR}× warmed-up`, burstPeak < PEAK_FACTOR * baseline, `${fmt.mib(burstPeak)} (${(burstPeak / baseline).toFixed(1)}×)`);
    for (const s of [few, full]) {
      rep.check(`storm ×${s.clients}: every answer 2xx or 429/503 with Retry-After, none dropped`, s.bad === 0, `${s.bad} other`);
      rep.check(`storm ×${s.clients}: every client's block accepted in the end`, s.acked === s.clients, `${s.acked}/${s.clients} in ${fmt.s(s.ms)}`);
    }
    rep.check(`storm: peak RSS under ${PEAK_FACTOR}× warmed-up`, full.peak < PEAK_FACTOR * baseline, `${fmt.mib(full.peak)} (${(full.peak / baseline).toFixed(1)}×)`);
    // Without a bound on buffered bodies, memory follows the bytes offered (clients × block).
    const offered = full.clients * block.length;
    rep.check(
      `storm: memory does not follow the bytes offered (growth < ${OFFERED_SHARE * 100}% of ${full.clients} × ${fmt.mib(block.length)})`,
      full.growth < OFFERED_SHARE * offered,
      `+${fmt.mib(full.growth)} of ${fmt.mib(offered)} offered (${fmt.pct(full.growth / offered)}); ×${few.clients}: +${fmt.mib(few.growth)}`,
    );
    rep.check('storm backlog delivered to the nodes', isDrained, fmt.s(drainMs));
    rep.check('throughput recovered after the storm (≥ 50% of before)', after.rate >= 0.5 * before.rate && after.failures === 0, `${after.rate.toFixed(0)}/s vs ${before.rate.toFixed(0)}/s before`);
    rep.check('Spillway alive at the end', sw.proc.running, sw.proc.running ? 'running' : sw.proc.describeExit());
  } catch (err) {
    rep.abort(err);
  } finally {
    for (const s of sockets) s.destroy();
  }
  return rep.finish();
}
