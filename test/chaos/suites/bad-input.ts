// Bad input over HTTP against a running Spillway: storms of generated bodies across every
// decoder its routes have (found by probing: remote-write 1.0 snappy on every write path;
// zstd, remote-write 2.0 and import paths when they answer), one category after the other:
// random bytes, truncated and bit-flipped valid bodies, snappy bombs, lying protobuf,
// label/sample edge cases, header abuse. Afterwards and between storms: the process is
// alive, /health answers, a valid request is accepted, and memory stayed bounded. Every
// answer must be a documented one (204, 400, 413, 415) and every 4xx must carry an
// SPW_ERR_ code. Bodies that got anything else are saved for reproduction.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { snappyCompress } from '../../../src/protocol/snappy.js';
import { httpRequest } from '../../integration/helpers/procs.js';
import {
  PRW2_CONTENT_TYPE,
  amplifiers,
  protobufGarbage,
  prw1,
  prw1Edge,
  prw2,
  prw2Garbage,
  snappyBomb,
  sprinkleBitFlips,
  zstdFrame,
  zstdGarbage,
} from '../lib/bodies.js';
import { Rng, RssSampler, rssBytes, sized, sleep, type SuiteOptions } from '../lib/common.js';
import { LoopbackClient, PRW1_HEADERS, metricSum } from '../lib/http.js';
import { Report, fmt, type SuiteResult } from '../lib/report.js';
import { ChaosSink } from '../lib/sink.js';
import { launch, metrics } from '../lib/spillway.js';

const SIZES = {
  ci: { bodies: 20_000, concurrency: 8, amplifierRounds: 1 },
  long: { bodies: 1_000_000, concurrency: 16, amplifierRounds: 5 },
};

/** -maxInsertRequestSize as Spillway runs here (its default). */
const MAX_INSERT = 32 << 20;
const ALLOWED = new Set([204, 400, 413, 415]);
/** Peak RSS may reach this multiple of the warmed-up RSS (32 MiB bombs, 8-16 at once). */
const PEAK_FACTOR = 8;
/** After the storms and a short rest, RSS must be back under this multiple. */
const END_FACTOR = 3;

interface Shot {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  what: string;
}

interface Category {
  name: string;
  weight: number;
  make: (rng: Rng) => Shot;
}

const PRW_CANDIDATES = ['/api/v1/write', '/prometheus/api/v1/write', '/victoriametrics/api/v1/write', '/insert/0/prometheus/api/v1/write', '/insert/7:3/prometheus/api/v1/write', '/insert/0/prometheus'];
/** vminsert's other ingestion paths, with the format each takes; used when Spillway answers them. */
const IMPORT_CANDIDATES: [string, 'json' | 'prom' | 'csv' | 'native' | 'influx'][] = [
  ['/api/v1/import', 'json'],
  ['/prometheus/api/v1/import', 'json'],
  ['/victoriametrics/api/v1/import', 'json'],
  ['/api/v1/import/prometheus', 'prom'],
  ['/prometheus/api/v1/import/prometheus', 'prom'],
  ['/victoriametrics/api/v1/import/prometheus', 'prom'],
  ['/api/v1/import/csv?format=2:metric:chaos,1:time:unix_s', 'csv'],
  ['/api/v1/import/native', 'native'],
  ['/insert/0/prometheus/api/v1/import', 'json'],
  ['/insert/0/prometheus/api/v1/import/prometheus', 'prom'],
  ['/insert/0/prometheus/api/v1/import/csv?format=2:metric:chaos,1:time:unix_s', 'csv'],
  ['/insert/0/prometheus/api/v1/import/native', 'native'],
  ['/influx/write', 'influx'],
  ['/write', 'influx'],
  ['/influx/api/v2/write', 'influx'],
];

function textGarbage(rng: Rng, kind: 'json' | 'prom' | 'csv' | 'native' | 'influx'): { body: Buffer; what: string } {
  const now = Date.now();
  const valid = {
    json: () => `{"metric":{"__name__":"chaos_import","job":"x"},"values":[${rng.next()}],"timestamps":[${now}]}\n`,
    prom: () => `chaos_import{job="x",i="${rng.int(0, 99)}"} ${rng.next()} ${now}\n`,
    csv: () => `${rng.next()},${Math.floor(now / 1000)}\n`,
    native: () => '',
    influx: () => `chaos_import,job=x value=${rng.next()} ${now}000000\n`,
  }[kind];
  const cases: [string, () => string | Buffer][] = [
    ['random bytes', () => rng.bytes(rng.int(0, 4096))],
    ['valid lines, bit flips', () => sprinkleBitFlips(rng, Buffer.from(Array.from({ length: rng.int(1, 50) }, valid).join('')))],
    ['valid lines, truncated', () => {
      const s = Array.from({ length: rng.int(1, 50) }, valid).join('');
      return s.slice(0, rng.int(0, s.length));
    }],
    ['JSON nested 100k deep', () => '['.repeat(100_000) + ']'.repeat(100_000)],
    ['object nested 50k deep', () => '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)],
    ['huge numbers', () => `{"metric":{"__name__":"m"},"values":[1e999999,${'9'.repeat(5000)}],"timestamps":[-9223372036854775809]}\n`],
    ['one 1 MiB line', () => 'chaos_import{a="' + 'x'.repeat(1 << 20) + '"} 1\n'],
    ['100k empty lines', () => '\n'.repeat(100_000)],
    ['NUL and invalid UTF-8', () => Buffer.concat([Buffer.from(valid()), Buffer.from([0, 0xff, 0xfe, 0xc0, 0x80, 0x0a])])],
    ['label value with unbalanced quotes', () => 'chaos_import{a="x\\",b="} 1\n'],
    ['NaN, Inf, stale in text', () => `m 1 NaN\nm NaN ${now}\nm +Inf ${now}\nm -Inf ${now}\n`],
  ];
  const [what, make] = rng.pick(cases);
  const b = make();
  return { body: typeof b === 'string' ? Buffer.from(b) : b, what };
}

export async function badInput(opts: SuiteOptions): Promise<SuiteResult> {
  const p = sized(opts, SIZES);
  const rep = new Report('bad input: generated bodies over HTTP across every decoder', `${opts.size}, ${fmt.int(p.bodies)} bodies`);
  const rng = new Rng(opts.seed);
  const reproDir = path.join(os.tmpdir(), 'spillway-chaos-repro');
  let saved = 0;
  try {
    const sink = await new ChaosSink('node0').start();
    sink.keepBodies = false;
    opts.t.teardown(() => sink.stop());
    // No lifetime cap: a long run outlasts the helpers' default safety net (180 s), and the
    // suite's teardown stops the process anyway.
    const sw = await launch([`-remoteWrite.url=${sink.url}/api/v1/write`, '-loggerLevel=ERROR'], { t: opts.t, maxLifetimeMs: 0 });
    const client = new LoopbackClient(sw.url, { connections: p.concurrency, timeoutMs: 30_000 });
    opts.t.teardown(() => client.close());

    // ---- what does this build decode? Probe each path and encoding with a valid body.
    const validRaw = prw1(rng, 20, 2);
    const validBody = snappyCompress(validRaw);
    const prwPaths: string[] = [];
    for (const pth of PRW_CANDIDATES) {
      const r = await client.post(pth, validBody, PRW1_HEADERS);
      if (r.status !== 404) prwPaths.push(pth);
    }
    const zstdStatus = (await client.post('/api/v1/write', zstdFrame(validRaw), { ...PRW1_HEADERS, 'content-encoding': 'zstd' })).status;
    const prw2Status = (await client.post('/api/v1/write', snappyCompress(prw2(rng)), { ...PRW1_HEADERS, 'content-type': PRW2_CONTENT_TYPE, 'x-prometheus-remote-write-version': '2.0.0' })).status;
    const importPaths: [string, 'json' | 'prom' | 'csv' | 'native' | 'influx'][] = [];
    for (const [pth, kind] of IMPORT_CANDIDATES) {
      const r = await client.post(pth, Buffer.alloc(0), { 'content-type': 'text/plain' });
      if (r.status !== 404) importPaths.push([pth, kind]);
    }
    rep.table(
      'decoders found by probing',
      ['input', 'answer to a valid body', 'fuzzed'],
      [
        ['remote-write 1.0 snappy', `204 on ${prwPaths.length} paths`, 'yes'],
        ['remote-write 1.0 zstd', String(zstdStatus), zstdStatus === 204 ? 'yes (decoder)' : `yes (expect ${zstdStatus})`],
        ['remote-write 2.0', String(prw2Status), prw2Status === 204 ? 'yes (decoder)' : `yes (expect ${prw2Status})`],
        ['import paths', importPaths.length ? importPaths.map(([x]) => x).join(' ') : 'none answer (404)', importPaths.length ? 'yes' : 'no'],
      ],
    );
    rep.check('a valid remote-write 1.0 body is accepted on every write path', prwPaths.length > 0, `${prwPaths.length} paths`);

    const prwPath = (r: Rng) => r.pick(prwPaths.length ? prwPaths : ['/api/v1/write']);
    const valid = (r: Rng) => prw1(r, r.int(1, 40), r.int(1, 3));
    const snappy = (r: Rng, body: Buffer, what: string): Shot => ({ path: prwPath(r), headers: PRW1_HEADERS, body, what });
    const categories: Category[] = [
      { name: 'random bytes', weight: 10, make: (r) => snappy(r, r.bytes(r.int(0, 8192)), 'random') },
      {
        name: 'truncated valid bodies',
        weight: 10,
        make: (r) => {
          const b = snappyCompress(valid(r));
          return snappy(r, b.subarray(0, r.int(0, b.length - 1)), 'truncated');
        },
      },
      { name: 'bit-flipped valid bodies', weight: 14, make: (r) => snappy(r, sprinkleBitFlips(r, snappyCompress(valid(r))), 'bit flips') },
      {
        name: 'snappy bombs',
        weight: 5,
        make: (r) => {
          const b = snappyBomb(r, MAX_INSERT);
          return snappy(r, b.body, b.what);
        },
      },
      {
        name: 'lying protobuf (valid snappy)',
        weight: 18,
        make: (r) => {
          const g = protobufGarbage(r, valid(r));
          return snappy(r, snappyCompress(g.raw), g.what);
        },
      },
      {
        name: 'label and sample edge cases',
        weight: 14,
        make: (r) => {
          const e = prw1Edge(r);
          return snappy(r, snappyCompress(e.raw), e.what);
        },
      },
      {
        name: 'header and path abuse',
        weight: 7,
        make: (r) => {
          const body = snappyCompress(valid(r));
          switch (r.int(0, 3)) {
            case 0: {
              const enc = r.pick(['gzip', 'deflate', 'br', 'zstd', 'identity', 'snappy, gzip', 'SNAPPY', ' snappy ', 'x'.repeat(300), 'snappy;q=1', '*']);
              return { path: prwPath(r), headers: { ...PRW1_HEADERS, 'content-encoding': enc }, body, what: `content-encoding: ${enc.slice(0, 20)}` };
            }
            case 1: {
              const type = r.pick([PRW2_CONTENT_TYPE, 'text/plain', 'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/x-protobuf; proto=prometheus.WriteRequest', 'x'.repeat(2000)]);
              return { path: prwPath(r), headers: { ...PRW1_HEADERS, 'content-type': type }, body, what: `content-type: ${type.slice(0, 30)}` };
            }
            case 2: {
              const tenant = r.pick(['abc', '99999999999', '1:2:3', '-1', '4294967296:0', '0:4294967296', '1%3A2', '%00', ':', '1:']);
              return { path: `/insert/${tenant}/prometheus/api/v1/write`, headers: PRW1_HEADERS, body, what: `tenant ${tenant}` };
            }
            default: {
              const q = r.pick(['?get_vm_proto_version=1', '?get_vm_proto_version=2', '?extra_label=a=b', `?${'a=1&'.repeat(2000)}`, '?%ff=%fe', '?x']);
              return { path: `${prwPath(r)}${q}`, headers: PRW1_HEADERS, body: r.chance(0.5) ? body : r.bytes(100), what: `query ${q.slice(0, 24)}` };
            }
          }
        },
      },
      {
        name: zstdStatus === 204 ? 'zstd (decoder present)' : `zstd (no decoder: ${zstdStatus})`,
        weight: 8,
        make: (r) => {
          const g = r.chance(0.2) ? { body: zstdFrame(valid(r)), what: 'valid zstd frame' } : zstdGarbage(r, valid(r), MAX_INSERT);
          return { path: prwPath(r), headers: { ...PRW1_HEADERS, 'content-encoding': 'zstd' }, body: g.body, what: g.what };
        },
      },
      {
        name: prw2Status === 204 ? 'remote-write 2.0 (decoder present)' : `remote-write 2.0 (no decoder: ${prw2Status})`,
        weight: 8,
        make: (r) => {
          const g = r.chance(0.2) ? { raw: prw2(r), what: 'valid 2.0' } : prw2Garbage(r);
          return { path: prwPath(r), headers: { ...PRW1_HEADERS, 'content-type': PRW2_CONTENT_TYPE, 'x-prometheus-remote-write-version': '2.0.0' }, body: snappyCompress(g.raw), what: g.what };
        },
      },
    ];
    if (importPaths.length > 0) {
      categories.push({
        name: 'import paths',
        weight: 8,
        make: (r) => {
          const [pth, kind] = r.pick(importPaths);
          const g = textGarbage(r, kind);
          return { path: pth, headers: { 'content-type': kind === 'native' ? 'application/octet-stream' : 'text/plain', ...(r.chance(0.1) ? { 'content-encoding': 'gzip' } : {}) }, body: g.body, what: `${kind}: ${g.what}` };
        },
      });
    }
    const totalWeight = categories.reduce((n, c) => n + c.weight, 0);

    // Warm up with valid traffic, then take the baseline memory.
    for (let i = 0; i < 200; i++) await client.post('/api/v1/write', snappyCompress(valid(rng)), PRW1_HEADERS);
    await sleep(500);
    const baseline = rssBytes(sw.proc.pid) ?? 0;
    const rss = new RssSampler(() => sw.proc.pid, 50).start();
    // /health on a fresh connection every 200 ms: how long the event loop is kept from answering.
    let healthMax = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t0 = performance.now();
        await httpRequest(`${sw.url}/health`, { timeoutMs: 30_000 }).catch(() => undefined);
        healthMax = Math.max(healthMax, performance.now() - t0);
        await sleep(200);
      }
    })();
    const before = await metrics(sw.url);
    const rows: (string | number)[][] = [];
    const allStatuses: Record<string, number> = {};
    const unexpected: string[] = [];
    let refusals = 0;
    let sent = 0;
    let afterStormFailures = 0;
    let peak = 0;
    const started = Date.now();
    // Latency by kind of input: a decoder that takes long on some shape is a denial of service.
    const slow = new Map<string, { n: number; sum: number; max: number }>();

    for (const cat of categories) {
      const n = Math.max(1, Math.round((p.bodies * cat.weight) / totalWeight));
      const counts: Record<string, number> = {};
      let next = 0;
      let catUnexpected = 0;
      const t0 = Date.now();
      rss.resetPeak();
      const worker = async (w: number) => {
        const r = new Rng(opts.seed * 1000 + cat.name.length * 97 + w);
        while (next < n) {
          next++;
          const shot = cat.make(r);
          let status: number;
          let text = '';
          const t1 = performance.now();
          try {
            const res = await client.post(shot.path, shot.body, shot.headers);
            status = res.status;
            text = res.body.toString('utf8', 0, Math.min(res.body.length, 300));
          } catch (err) {
            status = 0;
            text = (err as Error).message;
          }
          sent++;
          const kind = `${cat.name} / ${shot.what}`;
          const lat = slow.get(kind) ?? { n: 0, sum: 0, max: 0 };
          const took = performance.now() - t1;
          lat.n++;
          lat.sum += took;
          lat.max = Math.max(lat.max, took);
          slow.set(kind, lat);
          const key = status === 0 ? 'no answer' : String(status);
          counts[key] = (counts[key] ?? 0) + 1;
          allStatuses[key] = (allStatuses[key] ?? 0) + 1;
          if (status >= 400) refusals++;
          // vmagent's handshake: 200 "1" offers VictoriaMetrics' zstd protocol, 204 declines it.
          const handshake = shot.path.includes('get_vm_proto_version=') && (status === 200 || status === 204);
          const ok = handshake || (ALLOWED.has(status) && (status < 400 || text.startsWith('SPW_ERR_')));
          if (!ok) {
            catUnexpected++;
            if (unexpected.length < 8) unexpected.push(`${cat.name} / ${shot.what}: ${key} ${text.slice(0, 160).trim()}`);
            if (saved < 20) {
              mkdirSync(reproDir, { recursive: true });
              const base = path.join(reproDir, `${opts.seed}-${saved++}`);
              writeFileSync(`${base}.bin`, shot.body);
              writeFileSync(`${base}.json`, JSON.stringify({ path: shot.path, headers: shot.headers, what: shot.what, status, answer: text }, null, 2));
            }
          }
        }
      };
      await Promise.all(Array.from({ length: p.concurrency }, (_, w) => worker(w)));
      const ms = Date.now() - t0;
      rss.sample();
      peak = Math.max(peak, rss.peak);
      const stormHealth = healthMax;
      healthMax = 0;
      // After the storm: alive, healthy, and still taking valid data.
      const health = await httpRequest(`${sw.url}/health`, { timeoutMs: 5_000 }).then((x) => x.status, () => 0);
      const after = await client.post('/api/v1/write', snappyCompress(valid(rng)), PRW1_HEADERS).then((x) => x.status, () => 0);
      if (health !== 200 || after !== 204 || !sw.proc.running) afterStormFailures++;
      rows.push([
        cat.name,
        n,
        counts['204'] ?? 0,
        counts['400'] ?? 0,
        counts['413'] ?? 0,
        counts['415'] ?? 0,
        Object.entries(counts).filter(([k]) => !['204', '400', '413', '415'].includes(k)).map(([k, v]) => `${k}: ${v}`).join(', ') || '0',
        catUnexpected,
        `${Math.round((n * 1000) / Math.max(1, ms))}/s`,
        fmt.mib(rss.peak),
        fmt.ms(stormHealth),
        `${health}/${after}`,
      ]);
      opts.log(`bad input: ${cat.name}: ${n} bodies in ${fmt.s(ms)}, ${catUnexpected} unexpected answers, peak RSS ${fmt.mib(rss.peak)}`);
      if (!sw.proc.running) break;
    }
    const stormMs = Date.now() - started;
    await sleep(1500);
    const end = rssBytes(sw.proc.pid) ?? Infinity;

    // Amplifiers: one at a time, the largest bodies with the most entries per byte.
    const ampRows: (string | number)[][] = [];
    let ampPeak = 0;
    let ampHealth = 0;
    let ampUndocumented = 0;
    if (sw.proc.running) {
      for (const amp of amplifiers(MAX_INSERT - 1024)) {
        for (let i = 0; i < p.amplifierRounds; i++) {
          const body = snappyCompress(amp.raw());
          rss.resetPeak();
          healthMax = 0;
          const t0 = performance.now();
          const res = await client.post('/api/v1/write', body, PRW1_HEADERS).then(
            (x) => ({ status: x.status, text: x.body.toString('utf8', 0, 200) }),
            (err: Error) => ({ status: 0, text: err.message }),
          );
          const took = performance.now() - t0;
          await sleep(250);
          rss.sample();
          if (!(ALLOWED.has(res.status) && (res.status < 400 || res.text.startsWith('SPW_ERR_')))) ampUndocumented++;
          if (res.status >= 400) refusals++;
          ampPeak = Math.max(ampPeak, rss.peak);
          ampHealth = Math.max(ampHealth, healthMax);
          if (i === 0) {
            ampRows.push([amp.what, fmt.mib(body.length), res.status === 0 ? 'no answer' : res.status, fmt.ms(took), fmt.ms(healthMax), fmt.mib(rss.peak), fmt.mib(rss.last)]);
          }
        }
      }
    }
    polling = false;
    await poller;
    rss.stop();
    const ampEnd = rssBytes(sw.proc.pid) ?? Infinity;

    // A path that is not valid percent-encoding: still a write path, so still an SPW_ERR_ answer.
    const badUrls = ['/insert/%ff%fe/prometheus/api/v1/write', '/insert/%E0%A4%A/prometheus', '/insert/%/prometheus/api/v1/write'];
    const badUrlAnswers: string[] = [];
    let badUrlOk = 0;
    for (const u of badUrls) {
      const res = await client.post(u, snappyCompress(valid(rng)), PRW1_HEADERS).catch(() => null);
      const text = res ? res.body.toString('utf8', 0, 120) : 'no answer';
      if (res && res.status >= 400) refusals++;
      if (res && res.status === 400 && text.startsWith('SPW_ERR_')) badUrlOk++;
      badUrlAnswers.push(`${res?.status ?? 0} ${text.trim().slice(0, 70)}`);
    }
    const afterMetrics = await metrics(sw.url).catch(() => new Map<string, number>());
    const counted = metricSum(afterMetrics, 'spillway_ingest_rejected_requests_total') - metricSum(before, 'spillway_ingest_rejected_requests_total');

    const slowest = [...slow.entries()].sort((a, b) => b[1].max - a[1].max).slice(0, 8);
    rep.table(
      'slowest kinds of input (answer latency, with the other storm traffic)',
      ['input', 'bodies', 'mean', 'max'],
      slowest.map(([k, v]) => [k, v.n, fmt.ms(v.sum / v.n), fmt.ms(v.max)]),
    );
    rep.table('per storm', ['category', 'bodies', '204', '400', '413', '415', 'other', 'undocumented', 'rate', 'peak RSS', '/health max', 'health/valid after'], rows);
    rep.info('bodies sent', `${fmt.int(sent)} in ${fmt.s(stormMs)} (${Math.round((sent * 1000) / Math.max(1, stormMs))}/s, ${p.concurrency} connections)`);
    rep.info('answers', Object.entries(allStatuses).map(([k, n]) => `${k}: ${fmt.int(n)}`).join(', '));
    rep.check('Spillway alive after every storm (no crash)', sw.proc.running, sw.proc.running ? 'running' : sw.proc.describeExit());
    rep.check('/health 200 and a valid request 204 after each storm', afterStormFailures === 0, `${rows.length - afterStormFailures}/${rows.length} storms`);
    rep.check('every answer documented (204/400/413/415, SPW_ERR_ body on 4xx)', unexpected.length === 0, unexpected.length === 0 ? '0 undocumented' : unexpected.join(' | '));
    rep.check('every refusal counted in spillway_ingest_rejected_requests_total', counted === refusals, `${fmt.int(counted)} counted / ${fmt.int(refusals)} refused`);
    rep.check(`peak RSS during the storms under ${PEAK_FACTOR}× the warmed-up RSS`, peak < PEAK_FACTOR * baseline, `${fmt.mib(peak)} vs ${fmt.mib(baseline)} (${(peak / baseline).toFixed(1)}×)`);
    rep.check(`RSS after the storms under ${END_FACTOR}× the warmed-up RSS`, end < END_FACTOR * baseline, `${fmt.mib(end)} (${(end / baseline).toFixed(1)}×)`);
    rep.table(
      `amplifiers: bodies up to -maxInsertRequestSize decoding to the most entries per byte (one at a time, ×${p.amplifierRounds})`,
      ['shape', 'sent', 'answer', 'took', '/health max', 'peak RSS', 'RSS after'],
      ampRows,
    );
    rep.check('amplifiers: answers documented, process alive', ampUndocumented === 0 && sw.proc.running, `${ampUndocumented} undocumented; ${sw.proc.running ? 'running' : sw.proc.describeExit()}`);
    rep.check(
      `amplifiers: peak RSS under ${PEAK_FACTOR}× the warmed-up RSS`,
      ampPeak < PEAK_FACTOR * baseline,
      `${fmt.mib(ampPeak)} (${(ampPeak / baseline).toFixed(1)}×), ${fmt.mib(ampEnd)} kept after`,
    );
    rep.check('amplifiers: /health answered within 2 s while one was decoded (event loop not blocked for long)', ampHealth < 2000, fmt.ms(ampHealth));
    rep.check('a write path with invalid percent-encoding gets 400 SPW_ERR_', badUrlOk === badUrls.length, badUrlAnswers.join(' / '));
    if (saved > 0) rep.note(`bodies with undocumented answers saved under ${reproDir} (<seed>-<n>.bin + .json with path, headers and answer); replay: curl -sv --data-binary @<file>.bin -H 'Content-Encoding: snappy' http://127.0.0.1:8480<path>`);
    if (!sw.proc.running) rep.note(`Spillway log tail:\n${sw.output().slice(-3000)}`);
  } catch (err) {
    rep.abort(err);
  }
  return rep.finish();
}
