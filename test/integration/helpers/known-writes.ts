// Known remote-write requests with awkward content, and what VictoriaMetrics should hold
// after storing them. The model of "what storage changes" is PROTOCOL.md §5.1 plus what
// Debian's victoria-metrics 1.79.5 was seen to do:
//  - labels with an empty value are dropped;
//  - plain NaN samples are dropped; a series left with no samples does not exist;
//  - the stale marker is kept as a stale NaN (exported as null) once the series exists; a
//    series that only ever got stale markers may or may not be created;
//  - -0 and subnormals read back as 0 (and so do normals close to the smallest, e.g. 2.2e-308);
//  - values are stored as decimals with one exponent per block, so about 12 significant
//    digits survive; mixing very different magnitudes in one series loses more, so each
//    series here keeps to one magnitude;
//  - JSON export shows invalid UTF-8 as U+FFFD (the native export shows the raw bytes).
import { STALE_NAN_BITS, float64Bits, type TestSeries } from './prw.js';
import { seriesKey, type ExportedSeries, type RawSeriesName } from './victoria-metrics.js';

export interface KnownRequest {
  /** Spillway ingest path. */
  path: string;
  what: string;
  series: TestSeries[];
}

export const KNOWN_METRIC_PREFIX = 'kw_';
export const KNOWN_MATCH = `{__name__=~"${KNOWN_METRIC_PREFIX}.*"}`;

const bytes = (...b: number[]) => Uint8Array.from(b);
const STALE = (timestamp: number) => ({ value: NaN, bits: STALE_NAN_BITS, timestamp });
const values = (base: number, vs: number[], stepMs = 1000) => vs.map((value, i) => ({ value, timestamp: base + i * stepMs }));

/** The requests, in the order they are sent. `base` is a recent timestamp (ms). */
export function knownRequests(base: number): KnownRequest[] {
  const t = (i: number) => base + i * 1000;
  const finite: TestSeries[] = [
    { labels: [['__name__', 'kw_finite'], ['case', 'unit']], samples: values(base, [0.1, 0.2, 0.1 + 0.2, 1 / 3, 2 / 3, 1, 1.5]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'integers']], samples: values(base, [0, 1, 2, 3, 42, 7]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'negative']], samples: values(base, [-1.25, -3.5, -2, -9.75]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'big_int']], samples: values(base, [9007199254740991, 9007199254740000, 5e15, 1234567890123456]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'twelve_digits']], samples: values(base, [123456789012, 987654321098, 100000000001]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'huge']], samples: values(base, [1e300, 1.5e300, -2.25e300]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'max']], samples: values(base, [Number.MAX_VALUE, -Number.MAX_VALUE]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'tiny']], samples: values(base, [1e-300, 2.5e-300, -7.75e-300]) },
    { labels: [['__name__', 'kw_finite'], ['case', 'zeros']], samples: values(base, [0, -0, Number.MIN_VALUE, -Number.MIN_VALUE]) },
  ];
  const special: TestSeries[] = [
    { labels: [['__name__', 'kw_special'], ['case', 'inf']], samples: values(base, [Infinity, -Infinity, Infinity]) },
    { labels: [['__name__', 'kw_special'], ['case', 'nan_between']], samples: values(base, [5, NaN, 6, NaN]) },
    { labels: [['__name__', 'kw_special'], ['case', 'nan_only']], samples: values(base, [NaN, NaN]) },
    { labels: [['__name__', 'kw_stale'], ['case', 'same_request']], samples: [{ value: 1, timestamp: t(0) }, STALE(t(1)), { value: 2, timestamp: t(2) }] },
    { labels: [['__name__', 'kw_stale'], ['case', 'later_request']], samples: values(base, [10, 11]) },
    { labels: [['__name__', 'kw_stale'], ['case', 'only']], samples: [STALE(t(0))] },
  ];
  const labelCases: TestSeries[] = [
    { labels: [['__name__', 'kw_labels'], ['case', 'empty_value'], ['gone', ''], ['kept', 'x']], samples: values(base, [1]) },
    { labels: [['__name__', 'kw_labels'], ['case', 'control'], ['v', 'a\x00b\x01c\x02d\x03\t\n\r\x7f']], samples: values(base, [2]) },
    { labels: [['__name__', 'kw_labels'], ['case', 'punctuation'], ['v', '"\\{}=,;# \'`|']], samples: values(base, [3]) },
    { labels: [['__name__', 'kw_labels'], ['case', 'utf8'], ['location', 'Zürich'], ['v', '🚀 日本語 Ωµ']], samples: values(base, [4]) },
    { labels: [['__name__', 'kw_labels'], ['case', 'invalid_utf8'], ['v', bytes(0x61, 0xff, 0xfe, 0x62)]], samples: values(base, [5]) },
    { labels: [['__name__', 'kw_labels'], ['case', 'odd_name'], ['naïve.label-name:x', '1'], [bytes(0x6e, 0x00, 0x01, 0x02), 'zero-bytes']], samples: values(base, [6]) },
    // __name__ not first, labels unsorted: storage sorts them; identity must not change.
    { labels: [['zeta', 'last'], ['case', 'unsorted'], ['__name__', 'kw_labels'], ['alpha', 'first']], samples: values(base, [7]) },
    { labels: [['__name__', 'kw_labels'], ['case', 'long_value'], ['v', 'x'.repeat(1000) + 'ü'.repeat(500)]], samples: values(base, [8]) },
    // 28 labels: below both Spillway's limit (40) and what victoria-metrics 1.79.5 keeps (30).
    {
      labels: [['__name__', 'kw_labels'], ['case', 'many_labels'], ...Array.from({ length: 26 }, (_, i) => [`l${String(i).padStart(2, '0')}`, `v${i}`] as [string, string])],
      samples: values(base, [9]),
    },
  ];
  const bulk: TestSeries[] = Array.from({ length: 300 }, (_, i) => ({
    labels: [['__name__', 'kw_bulk'], ['job', 'bulk'], ['instance', `host-${i % 17}:9100`], ['i', String(i)]],
    samples: values(base, [i * 10, i * 10 + 1, i * 10 + 2, i * 10 + 3, i * 10 + 4].map((v) => v + 0.5)),
  }));

  return [
    { path: '/api/v1/write', what: 'finite values, +Inf/-Inf, NaN, stale markers', series: [...finite, ...special] },
    { path: '/api/v1/write', what: 'odd labels', series: labelCases },
    { path: '/api/v1/write', what: '300 series x 5 samples', series: bulk },
    {
      path: '/api/v1/write',
      what: 'stale marker for a series created by an earlier request',
      series: [{ labels: [['__name__', 'kw_stale'], ['case', 'later_request']], samples: [STALE(t(2)), { value: 12, timestamp: t(3) }] }],
    },
    {
      path: '/insert/0/prometheus/api/v1/write',
      what: 'the vminsert tenant path',
      series: [
        { labels: [['__name__', 'kw_tenant_path'], ['tenant', '0']], samples: values(base, [100, 101, 102]) },
        { labels: [['__name__', 'kw_tenant_path'], ['tenant', '0'], ['utf8', 'Zürich']], samples: values(base, [0.25]) },
      ],
    },
  ];
}

export type StoredValue = number | 'stale';

export interface ExpectedSeries {
  key: string;
  metric: Record<string, string>;
  /** Raw label bytes: name bytes → value bytes (empty values removed). */
  raw: Array<[Buffer, Buffer]>;
  samples: Array<{ timestamp: number; value: StoredValue }>;
  /** Storage may legitimately not hold this series at all (stale markers only). */
  optional: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const asBuf = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v));

/** What a sample becomes in storage; undefined when storage drops it. */
export function storedValue(s: { value: number; bits?: bigint }): StoredValue | undefined {
  const bits = s.bits ?? float64Bits(s.value);
  if (bits === STALE_NAN_BITS) return 'stale';
  const v = s.bits !== undefined ? Buffer.from(new BigUint64Array([bits]).buffer).readDoubleLE() : s.value;
  if (Number.isNaN(v)) return undefined;
  if (v === 0 || (Number.isFinite(v) && Math.abs(v) < 2.2250738585072014e-308)) return 0;
  return v;
}

/** The series and samples VictoriaMetrics should hold after all `requests`. */
export function expectedStorage(requests: KnownRequest[]): Map<string, ExpectedSeries> {
  const out = new Map<string, ExpectedSeries>();
  for (const req of requests) {
    for (const s of req.series) {
      const raw: Array<[Buffer, Buffer]> = [];
      const metric: Record<string, string> = {};
      for (const [n, v] of s.labels) {
        const nb = asBuf(n);
        const vb = asBuf(v);
        if (vb.length === 0) continue;
        raw.push([nb, vb]);
        metric[utf8.decode(nb)] = utf8.decode(vb);
      }
      const key = seriesKey(metric);
      let e = out.get(key);
      if (!e) {
        e = { key, metric, raw, samples: [], optional: true };
        out.set(key, e);
      }
      for (const sample of s.samples) {
        const v = storedValue(sample);
        if (v === undefined) continue;
        // A stale marker before the series has a real value may not create it.
        if (v !== 'stale') e.optional = false;
        e.samples.push({ timestamp: sample.timestamp, value: v });
      }
    }
  }
  for (const [key, e] of out) {
    if (e.samples.length === 0) out.delete(key);
    e.samples.sort((a, b) => a.timestamp - b.timestamp);
  }
  return out;
}

/** About 12 significant digits, as VictoriaMetrics' decimal storage keeps. */
export function sameStored(expected: StoredValue, got: number): boolean {
  if (expected === 'stale') return Number.isNaN(got);
  if (Number.isNaN(got)) return false;
  if (!Number.isFinite(expected) || !Number.isFinite(got)) return expected === got;
  if (expected === got) return true;
  return Math.abs(expected - got) <= 1e-11 * Math.max(Math.abs(expected), Math.abs(got));
}

const fmt = (v: StoredValue | number) => (v === 'stale' ? 'stale' : Number.isNaN(v) ? 'NaN/stale' : String(v));

/** Every difference between what storage holds and what it should; empty when they match. */
export function compareStorage(expected: Map<string, ExpectedSeries>, got: ExportedSeries[]): string[] {
  const problems: string[] = [];
  const gotByKey = new Map<string, ExportedSeries>();
  for (const s of got) {
    const key = seriesKey(s.metric);
    if (gotByKey.has(key)) problems.push(`series exported twice: ${key}`);
    gotByKey.set(key, s);
  }
  for (const [key, e] of expected) {
    const g = gotByKey.get(key);
    if (!g) {
      if (!e.optional) problems.push(`missing series ${key} (expected ${e.samples.length} samples)`);
      continue;
    }
    const want = e.samples.map((s) => `${s.timestamp}`).join(',');
    const have = g.timestamps.join(',');
    if (want !== have) {
      problems.push(`series ${key}: timestamps differ\n  want ${want}\n  got  ${have}`);
      continue;
    }
    e.samples.forEach((s, i) => {
      if (!sameStored(s.value, g.values[i]!)) problems.push(`series ${key} @${s.timestamp}: want ${fmt(s.value)}, got ${fmt(g.values[i]!)}`);
    });
  }
  for (const key of gotByKey.keys()) if (!expected.has(key)) problems.push(`unexpected series ${key}`);
  return problems;
}

/** Check raw label bytes (native export) of every expected series that storage holds. */
export function compareRawNames(expected: Map<string, ExpectedSeries>, got: RawSeriesName[]): string[] {
  const canon = (name: Buffer, labels: Array<[Buffer, Buffer]>) =>
    [name.toString('hex'), ...labels.map(([n, v]) => `${n.toString('hex')}=${v.toString('hex')}`).sort()].join(' ');
  const have = new Set(got.map((g) => canon(g.name, g.labels)));
  const problems: string[] = [];
  const wanted = new Set<string>();
  for (const e of expected.values()) {
    const nameLabel = e.raw.find(([n]) => n.toString('latin1') === '__name__');
    const others = e.raw.filter(([n]) => n.toString('latin1') !== '__name__');
    const c = canon(nameLabel ? nameLabel[1] : Buffer.alloc(0), others);
    wanted.add(c);
    if (!have.has(c) && !e.optional) problems.push(`no stored series with the exact label bytes of ${e.key}`);
  }
  for (const g of got) {
    const c = canon(g.name, g.labels);
    if (!wanted.has(c)) problems.push(`stored series with unexpected label bytes: ${g.name.toString('latin1')} ${g.labels.map(([n, v]) => `${JSON.stringify(n.toString('latin1'))}=${JSON.stringify(v.toString('latin1'))}`).join(' ')}`);
  }
  return problems;
}

export function expectedSampleCount(expected: Map<string, ExpectedSeries>): number {
  let n = 0;
  for (const e of expected.values()) if (!e.optional) n += e.samples.length;
  return n;
}
