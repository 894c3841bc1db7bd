// Import formats into remote-write 1.0: VictoriaMetrics JSON lines and the Prometheus text
// exposition. Checked by decoding the output with protobufjs, on hand-made and random input.
import t from 'tap';
import fc from 'fast-check';
import { SpillwayError } from '../../src/errors.js';
import { WriteRequestWriter } from '../../src/protocol/import/writer.js';
import { parseJsonLines } from '../../src/protocol/import/json-lines.js';
import { parsePrometheusText } from '../../src/protocol/import/prometheus-text.js';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { doubleBits, refDecode } from '../helpers/prw-reference.js';

const LONG = process.env.SPILLWAY_LONG === '1';
const runs = (n: number): number => (LONG ? n * 100 : n);
const NOW = 1_800_000_000_000;

type Series = { labels: [string, string][]; samples: [number, number][] };

/** Parse and return the series as protobufjs sees them, plus the parse result. */
function run(format: 'json' | 'text', text: string | Buffer, max = 1 << 22) {
  const body = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const w = new WriteRequestWriter(max);
  w.begin(body);
  const res = format === 'json' ? parseJsonLines(body, w) : parsePrometheusText(body, w, NOW);
  const out = w.finish();
  // The pipeline's own decoder must accept it too.
  new PrwDecoder({ maxLabelsPerTimeseries: 1 << 20, maxLabelNameLen: 1 << 20, maxLabelValueLen: 1 << 20 }).decode(Buffer.from(out));
  const series: Series[] = refDecode(out).timeseries.map((s) => ({
    labels: s.labels.map((l) => [l.name, l.value] as [string, string]),
    samples: s.samples.map((x) => [x.value, x.timestamp] as [number, number]),
  }));
  return { res, series, writer: w };
}

const same = (a: number, b: number) => doubleBits(a) === doubleBits(b) || (Number.isNaN(a) && Number.isNaN(b));

t.test('JSON lines as VictoriaMetrics exports them', async (t) => {
  const body = [
    '{"metric":{"__name__":"up","job":"node","instance":"db-1:9100"},"values":[1,0,1],"timestamps":[1700000000000,1700000015000,1700000030000]}',
    '',
    '{"metric":{"__name__":"temp","city":"Zürich"},"values":[21.5],"timestamps":[1700000000000]}\r',
    '   ',
    '{"metric":{"__name__":"specials"},"values":[null,"NaN","Inf","-Inf","+Inf","infinity",1e308],"timestamps":[1,2,3,4,5,6,-7]}',
  ].join('\n');
  const { res, series, writer } = run('json', body);
  t.same(res, { lines: 3, badLines: 0 });
  t.equal(writer.seriesCount, 3);
  t.equal(writer.sampleCount, 11);
  t.same(series[0], {
    labels: [
      ['__name__', 'up'],
      ['job', 'node'],
      ['instance', 'db-1:9100'],
    ],
    samples: [
      [1, 1700000000000],
      [0, 1700000015000],
      [1, 1700000030000],
    ],
  });
  t.same(series[1]!.labels[1], ['city', 'Zürich']);
  const sp = series[2]!.samples;
  t.ok(Number.isNaN(sp[0]![0]) && Number.isNaN(sp[1]![0]));
  t.same(
    sp.slice(2).map(([v]) => v),
    [Infinity, -Infinity, Infinity, Infinity, 1e308],
  );
  t.equal(sp[6]![1], -7, 'negative timestamps survive');
});

t.test('bad JSON lines are counted and skipped; the first one is named', async (t) => {
  const lines = [
    'not json',
    '{"metric":{"__name__":"ok"},"values":[1],"timestamps":[1]}',
    '[1,2]',
    '{"values":[1],"timestamps":[1]}',
    '{"metric":{},"values":[1],"timestamps":[1]}',
    '{"metric":{"a":1},"values":[1],"timestamps":[1]}',
    '{"metric":{"a":"b"},"values":[],"timestamps":[]}',
    '{"metric":{"a":"b"},"values":[1,2],"timestamps":[1]}',
    '{"metric":{"a":"b"},"values":["x"],"timestamps":[1]}',
    '{"metric":{"a":"b"},"values":["constructor"],"timestamps":[1]}',
    '{"metric":{"a":"b"},"values":[1],"timestamps":[1.5]}',
    '{"metric":{"a":"b"},"values":[1],"timestamps":[1e300]}',
  ];
  const { res, series } = run('json', lines.join('\n'));
  t.equal(res.lines, 12);
  t.equal(res.badLines, 11);
  t.match(res.firstError, /^line 1: not JSON/);
  t.same(series.map((s) => s.labels), [[['__name__', 'ok']]]);
});

const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,15}$/).filter((n) => n !== '__name__');
const labelValue = fc.string({ maxLength: 20 });
const arbSeries: fc.Arbitrary<Series> = fc.record({
  labels: fc.uniqueArray(fc.tuple(labelName, labelValue), { selector: ([n]) => n, maxLength: 8 }),
  samples: fc.array(
    fc.tuple(
      fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0)),
      fc.integer({ min: -(2 ** 40), max: 2 ** 42 }),
    ),
    { minLength: 1, maxLength: 5 },
  ),
});

function specialJson(v: number): unknown {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return v;
}

t.test('property: random series through JSON lines come back unchanged', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }), fc.array(arbSeries, { minLength: 1, maxLength: 10 }), (name, all) => {
      const body = all
        .map((s) =>
          JSON.stringify({
            metric: Object.fromEntries([['__name__', name], ...s.labels]),
            values: s.samples.map(([v]) => specialJson(v)),
            timestamps: s.samples.map(([, ts]) => ts),
          }),
        )
        .join('\n');
      const { res, series } = run('json', body);
      if (res.badLines !== 0 || series.length !== all.length) return false;
      return all.every((s, i) => {
        const got = series[i]!;
        const want: [string, string][] = [['__name__', name], ...s.labels];
        return (
          JSON.stringify(got.labels) === JSON.stringify(want) &&
          got.samples.length === s.samples.length &&
          got.samples.every(([v, ts], k) => same(v, s.samples[k]![0] === 0 ? 0 : s.samples[k]![0]) && ts === s.samples[k]![1])
        );
      });
    }),
    { numRuns: runs(200) },
  );
  t.pass('round trip');
});

t.test('Prometheus text exposition', async (t) => {
  const body = [
    '# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.',
    '# TYPE node_cpu_seconds_total counter',
    'node_cpu_seconds_total{cpu="0",mode="idle"} 12345.67 1700000000000',
    'node_cpu_seconds_total{cpu="0",mode="user",} 1e3',
    '  up 1',
    'escaped{path="C:\\\\dir\\\\file",quote="say \\"hi\\"",nl="a\\nb",odd="\\t"} -Inf',
    'nan_value{} NaN 1700000000001',
    'with_exemplar{a="b"} 3 1700000000002 # {trace_id="abc"} 1.0 1700000000002',
    '{"utf8.metric.name", "label.with.dots"="v"} 7',
    'tabs\t{a="1"}\t\t2\t\t3',
    '',
    '# EOF',
  ].join('\n');
  const { res, series } = run('text', body);
  t.same(res, { lines: 8, badLines: 0 });
  t.same(series[0], {
    labels: [
      ['__name__', 'node_cpu_seconds_total'],
      ['cpu', '0'],
      ['mode', 'idle'],
    ],
    samples: [[12345.67, 1700000000000]],
  });
  t.same(series[1]!.samples, [[1000, NOW]], 'no timestamp: the receive time');
  t.same(series[2], { labels: [['__name__', 'up']], samples: [[1, NOW]] });
  t.same(series[3]!.labels, [
    ['__name__', 'escaped'],
    ['path', 'C:\\dir\\file'],
    ['quote', 'say "hi"'],
    ['nl', 'a\nb'],
    ['odd', '\\t'],
  ]);
  t.equal(series[3]!.samples[0]![0], -Infinity);
  t.ok(Number.isNaN(series[4]!.samples[0]![0]));
  t.same(series[5]!.samples, [[3, 1700000000002]], 'exemplar ignored');
  t.same(series[6]!.labels, [
    ['__name__', 'utf8.metric.name'],
    ['label.with.dots', 'v'],
  ]);
  t.same(series[7], { labels: [['__name__', 'tabs'], ['a', '1']], samples: [[2, 3]] });
});

t.test('bad text lines are counted and skipped', async (t) => {
  const lines = [
    'ok 1',
    'no_value',
    'no_value{a="b"}',
    'bad_value 1x',
    'bad_ts 1 17e9',
    'trailing 1 2 3',
    'unterminated{a="b} 1',
    'noquote{a=b} 1',
    'noeq{a "b"} 1',
    '{a="b"} 1',
    'two{"x", "y"} 1',
    'nospace{a="b"}1',
    'bad"name 1',
    '{} 1',
  ];
  const { res, series } = run('text', lines.join('\n'));
  t.equal(res.lines, lines.length);
  t.equal(res.badLines, lines.length - 1);
  t.match(res.firstError, /^line 2: /);
  t.equal(series.length, 1);
});

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

t.test('property: random series through the text format come back unchanged', async (t) => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,20}$/), fc.array(arbSeries, { minLength: 1, maxLength: 10 }), fc.boolean(), (name, all, withTs) => {
      const body = all
        .map((s) => {
          const [v, ts] = s.samples[0]!;
          const value = Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
          return `${name}{${s.labels.map(([n, x]) => `${n}="${escapeValue(x)}"`).join(',')}} ${value}${withTs ? ` ${ts}` : ''}`;
        })
        .join('\n');
      const { res, series } = run('text', body);
      if (res.badLines !== 0 || series.length !== all.length) return false;
      return all.every((s, i) => {
        const got = series[i]!;
        const [v, ts] = s.samples[0]!;
        return (
          JSON.stringify(got.labels) === JSON.stringify([['__name__', name], ...s.labels]) &&
          same(got.samples[0]![0], v === 0 ? 0 : v) &&
          got.samples[0]![1] === (withTs ? ts : NOW)
        );
      });
    }),
    { numRuns: runs(200) },
  );
  t.pass('round trip');
});

t.test('the output is capped: an import cannot grow past the limit', async (t) => {
  const line = '{"metric":{"__name__":"x","a":"' + 'y'.repeat(200) + '"},"values":[1],"timestamps":[1]}\n';
  t.throws(() => run('json', line.repeat(100), 4096), { code: 'SPW_ERR_DECOMPRESSED_TOO_LARGE', message: /split the import/ });
  t.throws(() => run('text', ('x{a="' + 'y'.repeat(300) + '"} 1\n').repeat(100), 4096), { code: 'SPW_ERR_DECOMPRESSED_TOO_LARGE' });
});

t.test('fuzz: arbitrary bytes never throw anything but the size limit, in bounded time', async (t) => {
  const started = Date.now();
  const text = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc
      .array(fc.constantFrom('{', '}', '"', '=', ',', ' ', '\\', '\n', '#', 'a', '1', 'NaN', '"metric":', '[', ']', 'null', ':', 'e'), { maxLength: 200 })
      .map((a) => Buffer.from(a.join(''))),
  );
  fc.assert(
    fc.property(text, (body) => {
      for (const format of ['json', 'text'] as const) {
        try {
          const { res, writer } = run(format, body);
          if (res.badLines > res.lines || writer.seriesCount > res.lines) return false;
        } catch (err) {
          if (!(err instanceof SpillwayError && err.code === 'SPW_ERR_DECOMPRESSED_TOO_LARGE')) throw err;
        }
      }
      return true;
    }),
    { numRuns: runs(1500) },
  );
  t.ok(Date.now() - started < (LONG ? 100 : 1) * 8000, 'bounded time');
});
