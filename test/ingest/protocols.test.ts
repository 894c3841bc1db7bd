// Every ingest protocol through the HTTP server into the spools: VictoriaMetrics
// remote-write (zstd, real vmagent 1.93.7 bodies), remote-write 2.0, and the imports.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Admission } from '../../src/ingest/admission.js';
import { buildServer } from '../../src/ingest/server.js';
import { WriteHandler, type NodeKind } from '../../src/ingest/write-handler.js';
import { PreparePool } from '../../src/ingest/prepare-pool.js';
import { Lifecycle } from '../../src/observe/lifecycle.js';
import { Metrics } from '../../src/observe/metrics.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';
import { zstdImplementation } from '../../src/protocol/zstd.js';
import { Ring } from '../../src/route/ring.js';
import { Splitter } from '../../src/route/split.js';
import { MemorySpool } from '../helpers/memory-spool.js';
import { sharedDir } from '../helpers/shared-dir.js';
import { encodeV2, type RefV2Request } from '../protocol/prw2-reference.js';
import { rleFrame, nativeCompress } from '../protocol/zstd-frames.js';

const CAPTURES = path.join(sharedDir, 'captures', 'vmagent-1.93.7');
/** Decode workers to prepare requests in (0: the main thread). */
const WORKERS = Number(process.env.SPILLWAY_TEST_PREPARE_WORKERS ?? 0);

const te = new TextEncoder();
const s = (x: string) => te.encode(x);
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';

function setup(t: Test, opts: { nodes?: number; max?: number; kinds?: NodeKind[] } = {}) {
  const ids = Array.from({ length: opts.nodes ?? 1 }, (_, i) => `http://node-${i}:8428/api/v1/write`);
  const spools = ids.map((id) => new MemorySpool(id));
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const max = opts.max ?? 1 << 20;
  const ring = new Ring(ids);
  const limits = { maxLabelsPerTimeseries: 30, maxLabelNameLen: 64, maxLabelValueLen: 256 };
  // protocols-workers.test.ts runs this file again with requests prepared in worker threads.
  const pool = WORKERS > 0 ? new PreparePool(WORKERS, { limits, maxInsertRequestSize: max }, pino({ level: 'silent' })) : undefined;
  if (pool) t.teardown(() => pool.close());
  const ready = pool?.ready() ?? Promise.resolve();
  const writeHandler = new WriteHandler({
    ...(pool ? { runner: pool } : {}),
    ring,
    replicationFactor: 1,
    spools,
    nodeKinds: opts.kinds ?? ids.map(() => 'remote-write' as const),
    limits,
    maxInsertRequestSize: max,
    metrics,
  });
  const app = buildServer({ writeHandler: () => writeHandler, admission: new Admission(64, 1000), lifecycle, metrics, logger: pino({ level: 'silent' }), maxInsertRequestSize: max });
  t.teardown(() => app.close());
  const post = async (url: string, payload: Buffer | string, headers: Record<string, string> = {}) => {
    await ready;
    return app.inject({ method: 'POST', url, payload, headers });
  };
  const counter = async (name: string, labels: Record<string, string>) => {
    const m = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
    return m.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
  };
  return { app, spools, metrics, post, counter, ring };
}

/** Series stored in a spool (snappy PRW records), as label objects and samples. */
function stored(spool: MemorySpool) {
  const out: { tenant: string; labels: [string, string][]; samples: [number, number][] }[] = [];
  for (const r of spool.records) {
    const view = new PrwDecoder({ maxLabelsPerTimeseries: 1000, maxLabelNameLen: 1e6, maxLabelValueLen: 1e6 }).decode(snappyUncompress(r.data, 1 << 24));
    for (let i = 0; i < view.seriesCount; i++) {
      const o = seriesToObject(view, i);
      out.push({ tenant: `${r.accountID}:${r.projectID}`, labels: o.labels, samples: o.samples });
    }
  }
  return out;
}

t.test('vmagent 1.93.7: the handshake answers 1, then its zstd bodies are spooled as sent', { skip: !zstdImplementation }, async (t) => {
  const { app, post, spools, counter } = setup(t);
  const hs = JSON.parse(fs.readFileSync(path.join(CAPTURES, 'handshake.json'), 'utf8')) as { path: string; headers: Record<string, string> };
  const res = await app.inject({ method: 'POST', url: hs.path, headers: { 'content-type': hs.headers['Content-Type']!, 'content-encoding': hs.headers['Content-Encoding']! } });
  t.equal(res.statusCode, 200);
  t.equal(res.body, '1', 'vmagent switches to zstd only on a body of "1"');

  const expected = JSON.parse(fs.readFileSync(path.join(sharedDir, 'captures', 'expected.json'), 'utf8'))['vmagent-1.93.7'] as Record<
    string,
    { series: number; samples: number; timeseries: { labels: [string, string][] }[] }
  >;
  let series = 0;
  for (const [file, exp] of Object.entries(expected)) {
    const meta = JSON.parse(fs.readFileSync(path.join(CAPTURES, file.replace(/\.bin$/, '.json')), 'utf8')) as { path: string; headers: Record<string, string> };
    const headers = Object.fromEntries(Object.entries(meta.headers).filter(([k]) => !/^(host|content-length)$/i.test(k)));
    const r = await post(meta.path, fs.readFileSync(path.join(CAPTURES, file)), headers);
    t.equal(r.statusCode, 204, file);
    t.equal(r.headers['x-prometheus-remote-write-samples-written'], String(exp.samples), `${file}: samples written`);
    const got = stored(spools[0]!).slice(series);
    t.same(
      got.map((g) => g.labels),
      exp.timeseries.map((x) => x.labels),
      `${file}: labels in wire order`,
    );
    t.ok(got.every((g) => g.tenant === '0:0'));
    series += exp.series;
  }
  t.equal(await counter('spillway_ingest_requests_total', { protocol: 'prw1-zstd', code: '204' }), 4);
});

t.test('zstd: corrupt bodies 400, oversized 413, both before anything is spooled', { skip: !zstdImplementation }, async (t) => {
  const { post, spools } = setup(t, { max: 64 * 1024 });
  const h = { 'content-encoding': 'zstd', 'content-type': 'application/x-protobuf' };
  const bad = await post('/api/v1/write', Buffer.from('not zstd'), h);
  t.equal(bad.statusCode, 400);
  t.match(bad.body, /^SPW_ERR_BAD_ZSTD: .*at offset 0/);
  const declared = await post('/api/v1/write', rleFrame(0x0a, 1 << 20), h);
  t.equal(declared.statusCode, 413);
  t.match(declared.body, /SPW_ERR_DECOMPRESSED_TOO_LARGE/);
  const unsized = await post('/api/v1/write', rleFrame(0x0a, 1 << 20, { fcsBytes: 0 }), h);
  t.equal(unsized.statusCode, 413);
  t.equal(spools[0]!.records.length, 0);
});

const v2Request: RefV2Request = {
  symbols: [s(''), s('__name__'), s('http_requests_total'), s('job'), s('api'), s('trace_id'), s('abc123'), s('Requests.'), s('x'.repeat(300))],
  timeseries: [
    {
      labels_refs: [1, 2, 3, 4],
      samples: [
        { value: 10, timestamp: 1_700_000_000_000 },
        { value: 11, timestamp: 1_700_000_015_000 },
      ],
      exemplars: [{ labels_refs: [5, 6], value: 10, timestamp: 1_700_000_000_000 }],
      metadata: { type: 1, help_ref: 7, unit_ref: 0 },
    },
    {
      labels_refs: [1, 2, 3, 8], // value over -maxLabelValueLen: dropped, so not written
      samples: [{ value: 1, timestamp: 1_700_000_000_000 }],
      exemplars: [{ labels_refs: [5, 6], value: 1, timestamp: 1_700_000_000_000 }],
    },
    {
      labels_refs: [1, 2],
      histograms: [{ count_int: 3, sum: 1.5, schema: 0, positive_spans: [{ offset: 0, length: 1 }], positive_deltas: [3], timestamp: 1_700_000_000_000 }],
    },
    { labels_refs: [1, 4], metadata: { type: 2, help_ref: 0, unit_ref: 0 } },
  ],
};

t.test('remote-write 2.0: converted, spooled as 1.0, and the Written headers say what was kept', async (t) => {
  const { post, spools, counter } = setup(t);
  const res = await post('/insert/3:4/prometheus/api/v1/write', snappyCompress(encodeV2(v2Request)), {
    'content-type': V2_TYPE,
    'content-encoding': 'snappy',
    'x-prometheus-remote-write-version': '2.0.0',
  });
  t.equal(res.statusCode, 204, res.body);
  t.equal(res.headers['x-prometheus-remote-write-samples-written'], '2');
  t.equal(res.headers['x-prometheus-remote-write-histograms-written'], '1');
  t.equal(res.headers['x-prometheus-remote-write-exemplars-written'], '1');
  const got = stored(spools[0]!);
  t.same(
    got.map((g) => [g.tenant, g.labels, g.samples]),
    [
      [
        '3:4',
        [
          ['__name__', 'http_requests_total'],
          ['job', 'api'],
        ],
        [
          [10, 1_700_000_000_000],
          [11, 1_700_000_015_000],
        ],
      ],
      ['3:4', [['__name__', 'http_requests_total']], []],
    ],
  );
  t.equal(await counter('spillway_ingest_unforwarded_total', { protocol: 'prw2', what: 'metadata' }), 2);
  t.equal(await counter('spillway_ingest_dropped_series_total', { reason: 'label_value_too_long' }), 1);
  t.equal(await counter('spillway_ingest_requests_total', { protocol: 'prw2', code: '204' }), 1);

  if (zstdImplementation) {
    const compress = nativeCompress();
    if (compress) {
      const z = await post('/api/v1/write', compress(encodeV2(v2Request), 1), { 'content-type': V2_TYPE, 'content-encoding': 'zstd' });
      t.equal(z.statusCode, 204, 'zstd-compressed 2.0');
    }
  }
});

t.test('remote-write 2.0: bad requests 400 naming the series, unknown message types 415', async (t) => {
  const { post } = setup(t);
  const badRef = snappyCompress(encodeV2({ symbols: [s('')], timeseries: [{ labels_refs: [0, 7], samples: [{ value: 1, timestamp: 1 }] }] }));
  const r1 = await post('/api/v1/write', badRef, { 'content-type': V2_TYPE, 'content-encoding': 'snappy' });
  t.equal(r1.statusCode, 400);
  t.match(r1.body, /^SPW_ERR_BAD_PRW2: label ref 7 is past the 1 symbols/);
  // A sample whose value has the wrong wire type is found when its 1.0 form is decoded.
  const badSample = Buffer.from([0x22, 0, 0x22, 1, 0x61, 0x2a, 8, 0x0a, 2, 1, 1, 0x12, 2, 0x08, 1]);
  const r2 = await post('/api/v1/write', snappyCompress(badSample), { 'content-type': V2_TYPE });
  t.equal(r2.statusCode, 400);
  t.match(r2.body, /^SPW_ERR_BAD_PRW2: timeseries 0 \(checked in its 1.0 form: Sample.value has wire type varint/);
  const r3 = await post('/api/v1/write', snappyCompress(encodeV2(v2Request)), { 'content-type': 'application/x-protobuf; proto="io.prometheus.write.v9.Request"' });
  t.equal(r3.statusCode, 415);
  t.match(r3.body, /SPW_ERR_UNSUPPORTED_MEDIA_TYPE: remote-write message type "proto=io.prometheus.write.v9.request"/);
  const r4 = await post('/api/v1/write', snappyCompress(encodeWriteRequest([{ labels: [['__name__', 'up']], samples: [[1, 1]] }])), {
    'content-type': 'application/x-protobuf;proto=prometheus.WriteRequest',
  });
  t.equal(r4.statusCode, 204, 'proto=prometheus.WriteRequest is 1.0');
  t.equal(r4.headers['x-prometheus-remote-write-samples-written'], '1');
});

t.test('vmstorage-only clusters: histograms and exemplars are not written, and counted', async (t) => {
  const { post, counter } = setup(t, { kinds: ['vmstorage'] });
  const res = await post('/api/v1/write', snappyCompress(encodeV2(v2Request)), { 'content-type': V2_TYPE });
  t.equal(res.statusCode, 204);
  t.equal(res.headers['x-prometheus-remote-write-samples-written'], '2');
  t.equal(res.headers['x-prometheus-remote-write-histograms-written'], '0');
  t.equal(res.headers['x-prometheus-remote-write-exemplars-written'], '0');
  t.equal(await counter('spillway_ingest_unforwarded_total', { what: 'histograms' }), 1);
  t.equal(await counter('spillway_ingest_unforwarded_total', { what: 'exemplars' }), 1);
});

const jsonLines = [
  '{"metric":{"__name__":"up","job":"node","instance":"db-1:9100"},"values":[1,1],"timestamps":[1700000000000,1700000015000]}',
  '{"metric":{"__name__":"temp","city":"Zürich"},"values":[21.5],"timestamps":[1700000000000]}',
].join('\n');

t.test('JSON-lines import on every path, plain or gzip, tenant from the path', async (t) => {
  const { post, spools, counter } = setup(t);
  const paths: [string, string][] = [
    ['/api/v1/import', '0:0'],
    ['/prometheus/api/v1/import', '0:0'],
    ['/victoriametrics/api/v1/import', '0:0'],
    ['/insert/5/prometheus/api/v1/import', '5:0'],
    ['/insert/5:6/prometheus/api/v1/import', '5:6'],
  ];
  for (const [p, tenant] of paths) {
    const before = stored(spools[0]!).length;
    const r = await post(p, jsonLines);
    t.equal(r.statusCode, 204, p);
    t.equal(r.headers['x-prometheus-remote-write-samples-written'], '3');
    const got = stored(spools[0]!).slice(before);
    t.same(
      got.map((g) => [g.tenant, g.labels[0]![1], g.samples.length]),
      [
        [tenant, 'up', 2],
        [tenant, 'temp', 1],
      ],
      p,
    );
  }
  const gz = await post('/api/v1/import', gzipSync(Buffer.from(jsonLines)), { 'content-encoding': 'gzip', 'content-type': 'application/x-www-form-urlencoded' });
  t.equal(gz.statusCode, 204, 'gzip, with the content type curl sends');
  t.equal(await counter('spillway_ingest_requests_total', { protocol: 'import', code: '204' }), paths.length + 1);
  t.equal(await counter('spillway_ingest_samples_total', { protocol: 'import' }), 3 * (paths.length + 1));
});

t.test('imports: bad lines are skipped and counted; nothing usable is a 400; encodings', async (t) => {
  const { post, spools, counter } = setup(t, { max: 64 * 1024 });
  const partly = await post('/api/v1/import', `${jsonLines}\nnot json\n{"metric":{}}`);
  t.equal(partly.statusCode, 204);
  t.equal(await counter('spillway_ingest_import_bad_lines_total', { format: 'json' }), 2);
  const none = await post('/api/v1/import', 'garbage\n{"metric":1}');
  t.equal(none.statusCode, 400);
  t.match(none.body, /^SPW_ERR_BAD_IMPORT: 2 bad lines, none usable; first: line 1: not JSON/);
  t.equal((await post('/api/v1/import', '')).statusCode, 204, 'an empty import is accepted, as vminsert does');
  t.equal((await post('/api/v1/import', '\n\n')).statusCode, 204, 'so is one of blank lines');
  const br = await post('/api/v1/import', jsonLines, { 'content-encoding': 'br' });
  t.equal(br.statusCode, 415);
  const badGz = await post('/api/v1/import', Buffer.from('not gzip'), { 'content-encoding': 'gzip' });
  t.equal(badGz.statusCode, 400);
  t.match(badGz.body, /^SPW_ERR_BAD_GZIP/);
  const bomb = await post('/api/v1/import', gzipSync(Buffer.alloc(1 << 20, 0x20)), { 'content-encoding': 'gzip' });
  t.equal(bomb.statusCode, 413);
  t.match(bomb.body, /SPW_ERR_DECOMPRESSED_TOO_LARGE: gzip body decompresses to more than the limit of 65536/);
  t.equal(stored(spools[0]!).length, 2, 'only the good lines of the first body');
});

t.test('Prometheus text import on the plain and tenant paths', async (t) => {
  const { post, spools } = setup(t);
  const text = '# TYPE up gauge\nup{job="node"} 1 1700000000000\nnode_load1 0.5\n';
  const before = Date.now();
  const r1 = await post('/api/v1/import/prometheus', text);
  t.equal(r1.statusCode, 204);
  const r2 = await post('/insert/9:1/prometheus/api/v1/import/prometheus', text);
  t.equal(r2.statusCode, 204);
  const got = stored(spools[0]!);
  t.same(
    got.map((g) => [g.tenant, g.labels]),
    [
      ['0:0', [['__name__', 'up'], ['job', 'node']]],
      ['0:0', [['__name__', 'node_load1']]],
      ['9:1', [['__name__', 'up'], ['job', 'node']]],
      ['9:1', [['__name__', 'node_load1']]],
    ],
  );
  t.ok(got[1]!.samples[0]![1] >= before, 'no timestamp: the receive time');
});

t.test('imports route with the import-path rule (empty metric-name label), remote write with __name__', async (t) => {
  const { post, spools, ring } = setup(t, { nodes: 3 });
  const n = 60;
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ metric: { __name__: 'm', i: String(i) }, values: [1], timestamps: [1700000000000] })).join('\n');
  t.equal((await post('/api/v1/import', lines)).statusCode, 204);
  const placed = new Map<string, number>();
  spools.forEach((sp, node) => stored(sp).forEach((g) => placed.set(g.labels[1]![1], node)));
  t.equal(placed.size, n);

  // Where each rule puts the same series.
  const req = encodeWriteRequest(Array.from({ length: n }, (_, i) => ({ labels: [['__name__', 'm'], ['i', String(i)]], samples: [[1, 1700000000000]] })));
  const view = new PrwDecoder({ maxLabelsPerTimeseries: 30, maxLabelNameLen: 64, maxLabelValueLen: 256 }).decode(req);
  const where = (rule: 'import' | 'remote-write') => {
    const m = new Map<string, number>();
    for (const b of new Splitter({ rule }).split(view, { accountID: 0, projectID: 0 }, ring, 1)) {
      const v = new PrwDecoder({ maxLabelsPerTimeseries: 30, maxLabelNameLen: 64, maxLabelValueLen: 256 }).decode(Buffer.from(b.data));
      for (let i = 0; i < v.seriesCount; i++) m.set(seriesToObject(v, i).labels[1]![1], b.node);
    }
    return m;
  };
  const imp = where('import');
  const rw = where('remote-write');
  t.same([...placed].sort(), [...imp].sort(), 'placed as vminsert places imports');
  t.ok([...imp].some(([k, node]) => rw.get(k) !== node), 'which differs from remote-write placement for some series');
});
