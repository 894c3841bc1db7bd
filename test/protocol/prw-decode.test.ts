import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { snappyUncompress } from '../../src/protocol/snappy.js';
import { PrwDecoder, forEachSample, seriesToObject } from '../../src/protocol/prw/decode.js';
import { STALE_NAN_BITS, WriteRequestBuilder, encodeWriteRequest, type SeriesInput } from '../../src/protocol/prw/encode.js';
import {
  DropReason,
  SERIES_STRIDE,
  S_DROP,
  S_END,
  S_HISTOGRAM_COUNT,
  S_LABEL_COUNT,
  S_SAMPLE_COUNT,
  S_START,
  type SeriesLimits,
  type WriteRequestView,
} from '../../src/protocol/prw/types.js';
import {
  arbRefRequest as refRequest,
  bitsToDouble,
  capturesDir,
  doubleBits,
  refDecodeBytes,
  refEncodeBytes,
  viewSeries,
  type RefTimeSeries,
  type RefWriteRequest,
} from '../helpers/prw-reference.js';

const NO_LIMITS: SeriesLimits = { maxLabelsPerTimeseries: 1e9, maxLabelNameLen: 1e9, maxLabelValueLen: 1e9 };
const MAX = 64 * 1024 * 1024;

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

// ---------------------------------------------------------------------------------------
// Real client bodies against expected.json.

interface Expected {
  series: number;
  samples: number;
  metadata: number;
  timeseries: { labels: [string, string][]; samples: [number | null, string][] }[];
}

t.test('captured bodies decode to expected.json', async (t) => {
  const expected = JSON.parse(fs.readFileSync(path.join(capturesDir, 'expected.json'), 'utf8')) as Record<string, Record<string, Expected>>;
  const decoder = new PrwDecoder(NO_LIMITS);
  let bodies = 0;
  for (const [client, files] of Object.entries(expected)) {
    for (const [file, exp] of Object.entries(files)) {
      const dir = path.join(capturesDir, client);
      const pb = fs.readFileSync(path.join(dir, file.replace(/\.bin$/, '.pb')));
      let raw: Buffer;
      const headers = JSON.parse(fs.readFileSync(path.join(dir, file.replace(/\.bin$/, '.json')), 'utf8')) as {
        headers: Record<string, string>;
      };
      if (headers.headers['Content-Encoding'] === 'snappy') {
        raw = snappyUncompress(fs.readFileSync(path.join(dir, file)), MAX);
        t.ok(raw.equals(pb), `${client}/${file}: snappy body uncompresses to the .pb`);
      } else {
        // zstd bodies are another module's concern; their protobuf must still decode here.
        t.equal(headers.headers['Content-Encoding'], 'zstd', `${client}/${file}: only zstd is skipped`);
        raw = pb;
      }
      const view = decoder.decode(raw);
      t.equal(view.seriesCount, exp.series, `${client}/${file}: series`);
      t.equal(view.sampleCount, exp.samples, `${client}/${file}: samples`);
      t.equal(view.metadataCount, exp.metadata, `${client}/${file}: metadata`);
      t.equal(view.histogramCount, 0);
      let minTs = Infinity;
      let maxTs = -Infinity;
      const got = [];
      for (let i = 0; i < view.seriesCount; i++) {
        const s = seriesToObject(view, i);
        t.equal(s.drop, DropReason.None);
        got.push({
          labels: s.labels,
          // expected.json was produced without proto3 defaults, so a value field the client
          // left out (0) is stored as null; JSON cannot hold NaN/Inf either.
          samples: s.samples.map(([v, ts]): [number | null, string] => {
            minTs = Math.min(minTs, ts);
            maxTs = Math.max(maxTs, ts);
            return [v === 0 || !Number.isFinite(v) ? null : v, String(ts)];
          }),
        });
      }
      t.same(got, exp.timeseries, `${client}/${file}: labels and samples`);
      t.equal(view.minTimestamp, minTs);
      t.equal(view.maxTimestamp, maxTs);
      bodies++;
    }
  }
  t.equal(bodies, 12, 'all captured bodies checked');
});

t.test('expected.json nulls are values the client omitted (0), not NaN', async (t) => {
  // Guards the null mapping above: every null in expected.json must be a Sample without field 1.
  const raw = fs.readFileSync(path.join(capturesDir, 'vmagent-1.79.5', 'body-1.pb'));
  const view = new PrwDecoder(NO_LIMITS).decode(raw);
  const ref = refDecodeBytes(raw);
  let zeros = 0;
  for (let i = 0; i < view.seriesCount; i++) {
    forEachSample(view, i, (v) => {
      if (v === 0) zeros++;
      t.notOk(Number.isNaN(v));
    });
  }
  t.ok(zeros > 0);
  t.equal(ref.timeseries.flatMap((s) => s.samples).filter((s) => s.value === 0).length, zeros);
});

// ---------------------------------------------------------------------------------------
// Hand-made bodies.

t.test('empty body is an empty request', async (t) => {
  const v = new PrwDecoder(NO_LIMITS).decode(Buffer.alloc(0));
  t.equal(v.seriesCount, 0);
  t.equal(v.sampleCount, 0);
  t.equal(v.minTimestamp, 0);
  t.equal(v.maxTimestamp, 0);
});

t.test('ranges, counts and timestamps', async (t) => {
  const series: SeriesInput[] = [
    { labels: [['__name__', 'up'], ['job', 'a']], samples: [[1, 1000], [0, 2000]] },
    { labels: [['__name__', 'neg'], ['x', '']], samples: [[-2.5, -5]] },
    { labels: [], samples: [] },
    { labels: [['__name__', 'big']], samples: [[3, 2 ** 53 - 1]] },
  ];
  const body = encodeWriteRequest(series);
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  t.equal(v.seriesCount, 4);
  t.equal(v.sampleCount, 4);
  t.equal(v.minTimestamp, -5);
  t.equal(v.maxTimestamp, 2 ** 53 - 1);
  t.equal(v.series[S_START], 0);
  t.equal(v.series[3 * SERIES_STRIDE + S_END], body.length);
  for (let i = 1; i < 4; i++) t.equal(v.series[i * SERIES_STRIDE + S_START], v.series[(i - 1) * SERIES_STRIDE + S_END]);
  t.same(
    Array.from({ length: 4 }, (_, i) => seriesToObject(v, i)).map((s) => [s.labels, s.samples]),
    series.map((s) => [s.labels, s.samples]),
  );
  t.equal(v.series[2 * SERIES_STRIDE + S_LABEL_COUNT], 0);
  t.equal(v.series[1 * SERIES_STRIDE + S_SAMPLE_COUNT], 1);
});

t.test('timestamp varints: boundaries of every byte length and negative values', async (t) => {
  const values = [0, 1, 127, 128, 2 ** 14 - 1, 2 ** 14, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 1795630844718, 2 ** 49, 2 ** 53 - 1];
  const all = [...values, ...values.map((x) => -x), -(2 ** 53) + 1, -1];
  const body = encodeWriteRequest(all.map((ts) => ({ labels: [['a', 'b']], samples: [[1, ts]] })));
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  const got: number[] = [];
  for (let i = 0; i < v.seriesCount; i++) forEachSample(v, i, (_, ts) => got.push(ts));
  t.same(got, all);
  t.equal(v.minTimestamp, -(2 ** 53) + 1);
  t.equal(v.maxTimestamp, 2 ** 53 - 1);
  const ref = refDecodeBytes(body);
  t.same(ref.timeseries.map((s) => s.samples[0]!.timestamp), all);
});

t.test('unknown fields of every wire type are skipped at every level', async (t) => {
  // WriteRequest{ f2 varint, f99 fixed32, TimeSeries{ f9 len, Label{f5 fixed64, name "a", value "b", f6 varint},
  //   Sample{ f3 fixed32, value 1.0, timestamp 7 } }, f4 len }
  const label = hex('29 0000000000000000 0a01 61 1201 62 30 96 01');
  const sample = hex('1d 00000000 09 000000000000f03f 10 07');
  const ts = Buffer.concat([hex('4a 03 010203'), hex('0a'), Buffer.from([label.length]), label, hex('12'), Buffer.from([sample.length]), sample]);
  const body = Buffer.concat([
    hex('10 ffffffffffffffffff01'),
    hex('9d06 01020304'),
    hex('0a'),
    Buffer.from([ts.length]),
    ts,
    hex('22 02 0000'),
  ]);
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  t.equal(v.seriesCount, 1);
  t.same(seriesToObject(v, 0).labels, [['a', 'b']]);
  t.same(seriesToObject(v, 0).samples, [[1, 7]]);
  t.equal(v.metadataCount, 0);
  const ref = refDecodeBytes(body);
  t.equal(ref.timeseries.length, 1);
});

t.test('non-minimal tag and length varints are accepted', async (t) => {
  // TimeSeries tag 0x0a written as 8a 00; Label length 6 written as 86 00.
  const body = hex('8a00 09 0a 8600 0a01 61 1201 62');
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  t.equal(v.seriesCount, 1);
  t.same(seriesToObject(v, 0).labels, [['a', 'b']]);
  t.equal(v.series[S_END], body.length);
});

t.test('labels off the canonical fast path decode the same', async (t) => {
  const d = new PrwDecoder(NO_LIMITS);
  const cases: [string, string, [string, string][]][] = [
    ['canonical', '0a 08 0a 06 0a 01 61 12 01 62', [['a', 'b']]],
    ['value before name', '0a 08 0a 06 12 01 62 0a 01 61', [['a', 'b']]],
    ['trailing unknown field', '0a 0a 0a 08 0a 01 61 12 01 62 30 01', [['a', 'b']]],
    ['value omitted', '0a 05 0a 03 0a 01 61', [['a', '']]],
    ['two-byte name length', `0a 88 01 0a 85 01 0a 80 01 ${'61'.repeat(128)} 12 00`, [['a'.repeat(128), '']]],
    ['two-byte label length', `0a 85 01 0a 82 01 0a 7e ${'61'.repeat(126)} 12 00`, [['a'.repeat(126), '']]],
  ];
  for (const [name, body, labels] of cases) {
    const buf = hex(body);
    const v = d.decode(buf);
    t.same(seriesToObject(v, 0).labels, labels, name);
    t.equal(v.series[S_END], buf.length, `${name}: series end`);
  }
  // Lengths that do not add up must not be taken at face value by the fast path.
  t.throws(() => d.decode(hex('0a 08 0a 06 0a 01 61 12 02 62')), { code: 'SPW_ERR_BAD_PROTOBUF', message: /Label\.value length 2 runs past its parent/ });
  t.throws(() => d.decode(hex('0a 08 0a 07 0a 01 61 12 01 62')), { code: 'SPW_ERR_BAD_PROTOBUF', message: /Label length 7 runs past its parent/ });
});

t.test('repeated singular label fields: the last one wins', async (t) => {
  const body = hex('0a 0e 0a 0c 0a01 61 0a01 63 1201 62 1201 64');
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  t.same(seriesToObject(v, 0).labels, [['c', 'd']]);
  t.same(refDecodeBytes(body).timeseries[0]!.labels.map((l) => [Buffer.from(l.name).toString(), Buffer.from(l.value).toString()]), [['c', 'd']]);
});

t.test('absent label name or value is an empty range', async (t) => {
  const body = hex('0a 0a 0a 03 1201 62 0a 03 0a01 61');
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  t.same(seriesToObject(v, 0).labels, [['', 'b'], ['a', '']]);
});

t.test('histograms, exemplars and metadata', async (t) => {
  const msg: RefWriteRequest<Uint8Array> = {
    timeseries: [
      {
        labels: [{ name: Buffer.from('__name__'), value: Buffer.from('h') }],
        samples: [],
        exemplars: [{ labels: [{ name: Buffer.from('trace_id'), value: Buffer.from('abc') }], value: 1.5, timestamp: 10 }],
        histograms: [
          { count_int: 5, sum: 2.5, schema: 3, positive_spans: [{ offset: -1, length: 2 }], positive_deltas: [1, -1], timestamp: 50 },
          { count_float: 1.5, negative_counts: [0.5, 1], timestamp: -20 },
        ],
      },
      {
        labels: [{ name: Buffer.from('__name__'), value: Buffer.from('f') }],
        samples: [{ value: 1, timestamp: 30 }],
        exemplars: [],
        histograms: [],
      },
    ],
    metadata: [
      { type: 1, metric_family_name: 'f', help: 'help', unit: 's' },
      { type: 2, metric_family_name: 'g' },
    ],
  };
  const body = refEncodeBytes(msg);
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  t.equal(v.seriesCount, 2);
  t.equal(v.histogramCount, 2);
  t.equal(v.sampleCount, 1);
  t.equal(v.metadataCount, 2);
  t.equal(v.series[S_HISTOGRAM_COUNT], 2);
  t.equal(v.series[S_SAMPLE_COUNT], 0);
  t.equal(v.minTimestamp, -20, 'histogram timestamps count towards the time range');
  t.equal(v.maxTimestamp, 50);
  t.same(seriesToObject(v, 0).labels, [['__name__', 'h']], 'exemplar labels are not series labels');

  const b = new WriteRequestBuilder();
  b.addMetadata({ type: 1, metricFamilyName: 'x', help: 'y' });
  t.equal(new PrwDecoder(NO_LIMITS).decode(b.finish()).metadataCount, 1);
});

t.test('stale marker bits travel with the series range', async (t) => {
  const body = encodeWriteRequest([{ labels: [['a', 'b']], samples: [[STALE_NAN_BITS, 5]] }]);
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  const range = body.subarray(v.series[S_START], v.series[S_END]);
  t.ok(range.includes(hex('02000000 0000f07f')), 'stale NaN bytes present');
  forEachSample(v, 0, (value) => t.ok(Number.isNaN(value)));
  t.equal(doubleBits(bitsToDouble(STALE_NAN_BITS)), STALE_NAN_BITS);
});

// ---------------------------------------------------------------------------------------
// Malformed bodies: each names what and where.

t.test('malformed bodies', async (t) => {
  const d = new PrwDecoder(NO_LIMITS);
  const cases: [string, string, RegExp][] = [
    ['timeseries as varint', '08 01', /WriteRequest\.timeseries has wire type varint at offset 0/],
    ['metadata as fixed64', '19 0000000000000000', /WriteRequest\.metadata has wire type fixed64 at offset 0/],
    ['label as varint', '0a 02 08 01', /TimeSeries\.labels has wire type varint at offset 2/],
    ['sample as fixed32', '0a 05 15 00000000', /TimeSeries\.samples has wire type fixed32 at offset 2/],
    ['histogram as varint', '0a 02 20 01', /TimeSeries\.histograms has wire type varint at offset 2/],
    ['exemplar as fixed64', '0a 09 19 0000000000000000', /TimeSeries\.exemplars has wire type fixed64/],
    ['label name as varint', '0a 04 0a 02 08 01', /Label\.name has wire type varint at offset 4/],
    ['label value as fixed32', '0a 07 0a 05 15 00000000', /Label\.value has wire type fixed32 at offset 4/],
    ['sample value as varint', '0a 04 12 02 08 01', /Sample\.value has wire type varint at offset 4/],
    ['sample timestamp as fixed64', '0a 0b 12 09 11 0000000000000000', /Sample\.timestamp has wire type fixed64/],
    ['histogram timestamp as len', '0a 05 22 03 7a 01 00', /Histogram\.timestamp has wire type length-delimited/],
    ['truncated fixed64 value', '0a 07 12 05 09 00000000', /truncated fixed64 Sample\.value at offset 4/],
    ['truncated fixed64 at body end', '11 000000', /truncated fixed64 WriteRequest field 2 at offset 0/],
    ['truncated fixed32', '15 0000', /truncated fixed32 WriteRequest field 2 at offset 0/],
    ['overlong timestamp varint', '0a 0e 12 0c 10 8080808080808080808001', /varint Sample\.timestamp longer than 10 bytes at offset 5/],
    ['timestamp overflowing 64 bits', '0a 0d 12 0b 10 ffffffffffffffffff02', /overflows 64 bits at offset 5/],
    ['overlong length varint', '0a 8080808080808080808001', /longer than 10 bytes at offset 1/],
    ['overlong unknown varint', '10 8080808080808080808001', /longer than 10 bytes at offset 1/],
    ['truncated timestamp varint', '0a 04 12 02 10 80', /truncated varint Sample\.timestamp at offset 5/],
    ['truncated tag', '80', /truncated varint WriteRequest field tag at offset 0/],
    ['truncated length', '0a', /truncated varint WriteRequest\.timeseries length at offset 1/],
    ['series past the body', '0a 05 0a 00', /WriteRequest\.timeseries length 5 runs past its parent \(2 bytes left\) at offset 0/],
    ['label past its series', '0a 04 0a 05 0a 01 61 00', /Label length 5 runs past its parent \(2 bytes left\) at offset 2/],
    ['name past its label', '0a 05 0a 03 0a 02 61', /Label\.name length 2 runs past its parent \(1 bytes left\) at offset 4/],
    ['huge declared series length', '0a ffffffff0f 00', /length 4294967295 runs past its parent/],
    ['huge declared 64-bit length', '0a ffffffffffffffff7f', /runs past its parent/],
    ['unknown field past its parent', '0a 03 4a 05 00', /TimeSeries field 9 length 5 runs past its parent/],
    ['start group', '0b', /WriteRequest field 1 has unsupported start-group|WriteRequest\.timeseries has wire type start-group/],
    ['group on unknown field', '13 14', /WriteRequest field 2 has unsupported start-group at offset 0/],
    ['wire type 7', '0a 02 0f 00', /TimeSeries\.labels has wire type wire type 7|wire type 7/],
    ['field number 0', '00 00', /WriteRequest field number 0 at offset 0/],
    ['field number 0 in a series', '0a 02 02 00', /TimeSeries field number 0 at offset 2/],
    ['tag over 32 bits', 'ffffffff7f 00', /field tag exceeds 32 bits at offset 0/],
    ['bad exemplar label', '0a 06 1a 04 0a 02 08 01', /Label\.name has wire type varint at offset 6/],
  ];
  for (const [name, body, re] of cases) t.throws(() => d.decode(hex(body)), { code: 'SPW_ERR_BAD_PROTOBUF', message: re }, name);
  // The decoder is still usable after an error.
  t.equal(d.decode(encodeWriteRequest([{ labels: [['a', 'b']], samples: [[1, 1]] }])).seriesCount, 1);
});

// ---------------------------------------------------------------------------------------
// Limits.

t.test('limits drop exactly the offending series, by reason', async (t) => {
  const limits: SeriesLimits = { maxLabelsPerTimeseries: 3, maxLabelNameLen: 5, maxLabelValueLen: 4 };
  const series: SeriesInput[] = [
    { labels: [['a', '1'], ['b', '2'], ['c', '3']], samples: [[1, 100]] }, // at every limit: kept
    { labels: [['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']], samples: [[1, 1], [2, 2]] }, // too many labels
    { labels: [['abcde', '1234']], samples: [[1, 200]] }, // exactly at the length limits: kept
    { labels: [['abcdef', '1']], samples: [[1, 3]] }, // name too long
    { labels: [['a', '12345']], samples: [[1, 4], [1, 5], [1, 6]] }, // value too long
    { labels: [['a', '1'], ['b', '2'], ['c', '3'], ['abcdef', '12345']], samples: [[1, 7]] }, // all three: count wins
    { labels: [['a', '12345'], ['abcdef', '1']], samples: [[1, 8]] }, // name beats value
    { labels: [['a', 'é12']], samples: [[1, 300]] }, // 4 bytes of UTF-8: kept
    { labels: [['a', 'éé1']], samples: [[1, 9]] }, // 5 bytes: value too long (limits count bytes)
  ];
  const want = [
    DropReason.None,
    DropReason.TooManyLabels,
    DropReason.None,
    DropReason.LabelNameTooLong,
    DropReason.LabelValueTooLong,
    DropReason.TooManyLabels,
    DropReason.LabelNameTooLong,
    DropReason.None,
    DropReason.LabelValueTooLong,
  ];
  const b = new WriteRequestBuilder();
  for (const s of series) b.addSeries(s);
  // A histogram-only dropped series: its histogram counts as a dropped sample.
  const hist = refEncodeBytes({
    timeseries: [{ labels: [{ name: Buffer.from('abcdefg'), value: Buffer.alloc(0) }], samples: [], histograms: [{ count_int: 1, timestamp: 1 }] }],
  });
  const body = Buffer.concat([b.finish(), hist]);
  want.push(DropReason.LabelNameTooLong);

  const v = new PrwDecoder(limits).decode(body);
  t.equal(v.seriesCount, series.length + 1, 'dropped series stay in the view');
  t.same(
    Array.from({ length: v.seriesCount }, (_, i) => v.series[i * SERIES_STRIDE + S_DROP]),
    want,
  );
  t.same(Array.from(v.droppedSeries), [0, 2, 3, 2]);
  t.equal(v.droppedSamples, 2 + 1 + 3 + 1 + 1 + 1 + 1);
  t.equal(v.sampleCount, 3);
  t.equal(v.histogramCount, 0);
  t.equal(v.minTimestamp, 100, 'dropped series do not widen the time range');
  t.equal(v.maxTimestamp, 300);
});

t.test('non-positive limits mean no limit', async (t) => {
  const v = new PrwDecoder({ maxLabelsPerTimeseries: 0, maxLabelNameLen: -1, maxLabelValueLen: Infinity }).decode(
    encodeWriteRequest([{ labels: [['a'.repeat(1000), 'b'.repeat(100000)]], samples: [[1, 1]] }]),
  );
  t.equal(v.series[S_DROP], DropReason.None);
});

t.test('decoder reuse: arrays grow, counters reset', async (t) => {
  const d = new PrwDecoder({ maxLabelsPerTimeseries: 30, maxLabelNameLen: 256, maxLabelValueLen: 1024 });
  const many: SeriesInput[] = [];
  for (let i = 0; i < 5000; i++) {
    many.push({
      labels: Array.from({ length: 12 }, (_, j): [string, string] => [`l${j}`, `v${i}`]),
      samples: [[i, 1000 + i]],
    });
  }
  const big = d.decode(encodeWriteRequest(many));
  t.equal(big.seriesCount, 5000);
  t.equal(big.sampleCount, 5000);
  t.same(seriesToObject(big, 4999).labels[11], ['l11', 'v4999']);
  t.equal(big.maxTimestamp, 5999);
  const small = d.decode(encodeWriteRequest([{ labels: [['a', 'b']], samples: [[1, 7]] }]));
  t.equal(small, big, 'the same view object is reused');
  t.equal(small.seriesCount, 1);
  t.equal(small.sampleCount, 1);
  t.equal(small.minTimestamp, 7);
  t.equal(small.maxTimestamp, 7);
  t.same(Array.from(small.droppedSeries), [0, 0, 0, 0]);
});

// ---------------------------------------------------------------------------------------
// Properties against protobufjs.

function sameSample(a: [number, number], b: { value: number; timestamp: number }): boolean {
  return Object.is(a[0], b.value) && a[1] === b.timestamp;
}

function checkAgainstRef(view: WriteRequestView, ref: RefWriteRequest<Uint8Array>): void {
  if (view.seriesCount !== ref.timeseries.length) throw new Error(`series ${view.seriesCount} != ${ref.timeseries.length}`);
  const got = viewSeries(view);
  got.forEach((s, i) => {
    const r = ref.timeseries[i]!;
    if (s.labels.length !== r.labels.length) throw new Error(`series ${i}: label count`);
    s.labels.forEach(([n, v], j) => {
      if (!n.equals(r.labels[j]!.name) || !v.equals(r.labels[j]!.value)) throw new Error(`series ${i} label ${j} differs`);
    });
    if (s.samples.length !== r.samples.length || !s.samples.every((x, j) => sameSample(x, r.samples[j]!))) {
      throw new Error(`series ${i}: samples ${JSON.stringify(s.samples)} != ${JSON.stringify(r.samples)}`);
    }
    if (s.histograms !== (r.histograms?.length ?? 0)) throw new Error(`series ${i}: histograms`);
  });
}

t.test('property: protobufjs-encoded requests decode to the same series', async (t) => {
  const d = new PrwDecoder(NO_LIMITS);
  fc.assert(
    fc.property(refRequest, (msg) => {
      const body = refEncodeBytes(msg);
      const view = d.decode(body);
      const ref = refDecodeBytes(body);
      checkAgainstRef(view, ref);
      const samples = ref.timeseries.flatMap((s) => s.samples);
      const hists = ref.timeseries.flatMap((s) => s.histograms ?? []) as { timestamp: number }[];
      const times = [...samples.map((s) => s.timestamp), ...hists.map((h) => h.timestamp)];
      return (
        view.sampleCount === samples.length &&
        view.histogramCount === hists.length &&
        view.metadataCount === (ref.metadata?.length ?? 0) &&
        view.minTimestamp === (times.length ? Math.min(...times) : 0) &&
        view.maxTimestamp === (times.length ? Math.max(...times) : 0) &&
        view.droppedSamples === 0
      );
    }),
    { numRuns: 300 },
  );
  t.pass('300 random requests');
});

t.test('property: concatenated series ranges are a WriteRequest with the same series', async (t) => {
  const d = new PrwDecoder(NO_LIMITS);
  const d2 = new PrwDecoder(NO_LIMITS);
  fc.assert(
    fc.property(refRequest, fc.array(fc.boolean(), { maxLength: 12 }), (msg, pick) => {
      const body = refEncodeBytes(msg);
      const view = d.decode(body);
      const parts: Buffer[] = [];
      const picked: RefTimeSeries<Uint8Array>[] = [];
      const ref = refDecodeBytes(body);
      for (let i = 0; i < view.seriesCount; i++) {
        if (pick[i] === false) continue; // what routing does for series bound elsewhere
        parts.push(body.subarray(view.series[i * SERIES_STRIDE + S_START], view.series[i * SERIES_STRIDE + S_END]));
        picked.push(ref.timeseries[i]!);
      }
      const out = Buffer.concat(parts);
      const reDecoded = refDecodeBytes(out);
      assert.deepStrictEqual(reDecoded.timeseries, picked);
      assert.equal(reDecoded.metadata?.length, 0, 'metadata leaked into the copy');
      checkAgainstRef(d2.decode(out), { timeseries: picked });
    }),
    { numRuns: 300 },
  );
});

t.test('property: limits match a model of the rules', async (t) => {
  const small = fc.record({
    maxLabelsPerTimeseries: fc.integer({ min: 1, max: 10 }),
    maxLabelNameLen: fc.integer({ min: 1, max: 12 }),
    maxLabelValueLen: fc.integer({ min: 1, max: 12 }),
  });
  fc.assert(
    fc.property(refRequest, small, (msg, limits) => {
      const body = refEncodeBytes(msg);
      const view = new PrwDecoder(limits).decode(body);
      const ref = refDecodeBytes(body);
      const dropped = [0, 0, 0, 0];
      let droppedSamples = 0;
      let kept = 0;
      ref.timeseries.forEach((s, i) => {
        let want: DropReason = DropReason.None;
        if (s.labels.length > limits.maxLabelsPerTimeseries) want = DropReason.TooManyLabels;
        else if (s.labels.some((l) => l.name.length > limits.maxLabelNameLen)) want = DropReason.LabelNameTooLong;
        else if (s.labels.some((l) => l.value.length > limits.maxLabelValueLen)) want = DropReason.LabelValueTooLong;
        if (view.series[i * SERIES_STRIDE + S_DROP] !== want) throw new Error(`series ${i}: drop ${view.series[i * SERIES_STRIDE + S_DROP]} != ${want}`);
        if (want !== DropReason.None) {
          dropped[want]!++;
          droppedSamples += s.samples.length + (s.histograms?.length ?? 0);
        } else kept += s.samples.length;
      });
      assert.deepStrictEqual(Array.from(view.droppedSeries), dropped);
      return view.droppedSamples === droppedSamples && view.sampleCount === kept;
    }),
    { numRuns: 300 },
  );
});

t.test('a body of millions of empty series is refused before it costs index memory', async (t) => {
  const { MAX_SERIES_PER_REQUEST } = await import('../../src/protocol/prw/decode.js');
  const body = Buffer.alloc((MAX_SERIES_PER_REQUEST + 1) * 2);
  for (let i = 0; i < body.length; i += 2) body[i] = 0x0a; // TimeSeries, length 0
  const d = new PrwDecoder({ maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 });
  t.throws(() => d.decode(body), { code: 'SPW_ERR_TOO_MANY_SERIES', status: 400 });
  // The decoder still works, with an index sized for normal requests again.
  const ok = d.decode(encodeWriteRequest([{ labels: [['__name__', 'up']], samples: [[1, 1]] }]));
  t.equal(ok.seriesCount, 1);
  d.decode(encodeWriteRequest([{ labels: [['__name__', 'up']], samples: [[1, 1]] }]));
  t.ok(d.decode(encodeWriteRequest([])).series.length < 1 << 20, 'the outlier-sized index was released');
});
