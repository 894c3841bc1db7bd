import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import {
  STALE_NAN_BITS,
  WriteRequestBuilder,
  encodeWriteRequest,
  type SampleInput,
  type SeriesInput,
} from '../../src/protocol/prw/encode.js';
import {
  arbSampleValue,
  arbTimestamp,
  arbUnicodeString,
  capturesDir,
  refDecode,
  refDecodeBytes,
  refEncode,
  type RefWriteRequest,
} from '../helpers/prw-reference.js';

const NO_LIMITS = { maxLabelsPerTimeseries: 1e9, maxLabelNameLen: 1e9, maxLabelValueLen: 1e9 };

function toRef(series: SeriesInput[]): RefWriteRequest {
  return {
    timeseries: series.map((s) => ({
      labels: s.labels.map(([name, value]) => ({ name: String(name), value: String(value) })),
      samples: s.samples.map(([value, ts]) => ({ value: Number(value), timestamp: Number(ts) })),
      exemplars: [],
      histograms: [],
    })),
    metadata: [],
  };
}

t.test('a simple request decodes by protobufjs', async (t) => {
  const series: SeriesInput[] = [
    { labels: [['__name__', 'up'], ['instance', 'db-1:9100'], ['city', 'Zürich']], samples: [[1, 1795630844718]] },
    { labels: [['__name__', 'x'], ['empty', '']], samples: [[-0.5, -1], [0, 0], [Infinity, 1]] },
  ];
  const body = encodeWriteRequest(series);
  t.same(refDecode(body), toRef(series));
});

t.test('the builder writes what protobufjs writes for fully populated messages', async (t) => {
  const series: SeriesInput[] = [{ labels: [['a', 'b'], ['', 'é']], samples: [[1.25, 12345678901], [-3, -7]] }];
  t.ok(encodeWriteRequest(series).equals(refEncode(toRef(series))));
});

t.test('negative timestamps are 10-byte two’s complement varints', async (t) => {
  const body = encodeWriteRequest([{ labels: [], samples: [[0, -1]] }]);
  // 0a 0f | 12 0d | 09 <8 bytes> | 10 ff ff ff ff ff ff ff ff ff 01  (the last two fields: 1 + 8 and 1 + 10)
  t.equal(body.length, 2 + 2 + 9 + 11);
  t.ok(body.subarray(body.length - 11).equals(Buffer.from('10ffffffffffffffffff01', 'hex')));
  t.equal(refDecode(body).timeseries[0]!.samples[0]!.timestamp, -1);
  const min = encodeWriteRequest([{ labels: [], samples: [[0, -(2n ** 63n)], [0, 2n ** 63n - 1n]] }]);
  t.ok(min.includes(Buffer.from('1080808080808080808001', 'hex')), 'int64 min');
  t.ok(min.includes(Buffer.from('10ffffffffffffffff7f', 'hex')), 'int64 max');
  t.throws(() => encodeWriteRequest([{ labels: [], samples: [[0, 2 ** 60]] }]), RangeError, 'unsafe Number timestamps are refused');
});

t.test('NaN payloads and -0 survive', async (t) => {
  const body = encodeWriteRequest([{ labels: [['a', 'b']], samples: [[STALE_NAN_BITS, 1], [-0, 2], [0x7ff8000000000001n, 3]] }]);
  t.ok(body.includes(Buffer.from('09020000000000f07f', 'hex')), 'stale marker bits');
  t.ok(body.includes(Buffer.from('090000000000000080', 'hex')), '-0');
  t.ok(body.includes(Buffer.from('09010000000000f87f', 'hex')), 'other NaN payload');
  const v = new PrwDecoder(NO_LIMITS).decode(body);
  const samples = seriesToObject(v, 0).samples;
  t.ok(Number.isNaN(samples[0]![0]));
  t.ok(Object.is(samples[1]![0], -0));
});

t.test('byte labels, growth and reuse', async (t) => {
  const b = new WriteRequestBuilder(64);
  const big = Buffer.alloc(100_000, 0xfe);
  b.addSeries({ labels: [[Buffer.from([0xff, 0x00]), big]], samples: [[1, 1]] });
  b.addSeries({ labels: [['k', new Uint8Array([1, 2, 3])]], samples: [] });
  t.equal(b.seriesCount, 2);
  t.equal(b.sampleCount, 1);
  const len = b.length;
  const body = b.finish();
  t.equal(body.length, len);
  t.equal(b.length, 0, 'finish resets');
  t.equal(b.seriesCount, 0);
  const ref = refDecodeBytes(body);
  t.ok(Buffer.from(ref.timeseries[0]!.labels[0]!.name).equals(Buffer.from([0xff, 0x00])));
  t.ok(Buffer.from(ref.timeseries[0]!.labels[0]!.value).equals(big));
  t.same(Array.from(ref.timeseries[1]!.labels[0]!.value), [1, 2, 3]);
  const again = b.addSeries({ labels: [['a', 'b']], samples: [[2, 2]] }).finish();
  t.same(refDecode(again).timeseries.length, 1, 'the builder is reusable after finish');
});

t.test('metadata', async (t) => {
  const b = new WriteRequestBuilder();
  b.addSeries({ labels: [['__name__', 'm']], samples: [[1, 1]] });
  b.addMetadata({ type: 1, metricFamilyName: 'm', help: 'Counts things, in ünits.', unit: 'seconds' });
  b.addMetadata({ type: 2, metricFamilyName: 'g' });
  const ref = refDecode(b.finish());
  t.same(ref.metadata, [
    { type: 1, metric_family_name: 'm', help: 'Counts things, in ünits.', unit: 'seconds' },
    { type: 2, metric_family_name: 'g', help: '', unit: '' },
  ]);
});

t.test('captured series re-encoded by the builder decode the same way', async (t) => {
  for (const client of ['vmagent-1.79.5', 'prometheus-2.42-agent', 'vmagent-1.93.7']) {
    const pb = fs.readFileSync(path.join(capturesDir, client, 'body-0.pb'));
    const ref = refDecode(pb);
    const series: SeriesInput[] = ref.timeseries.map((s) => ({
      labels: s.labels.map((l): [string, string] => [l.name, l.value]),
      samples: s.samples.map((x): SampleInput => [x.value, x.timestamp]),
    }));
    const body = encodeWriteRequest(series);
    t.same(refDecode(body), ref, client);
    const v = new PrwDecoder(NO_LIMITS).decode(body);
    t.same(
      Array.from({ length: v.seriesCount }, (_, i) => seriesToObject(v, i).labels),
      series.map((s) => s.labels),
    );
  }
});

t.test('property: builder output decodes by protobufjs to the same message', async (t) => {
  const part = fc.oneof(arbUnicodeString(10), fc.string({ maxLength: 20 }), fc.constant(''));
  const value = fc.oneof({ weight: 5, arbitrary: arbSampleValue }, { weight: 1, arbitrary: fc.constant(STALE_NAN_BITS) });
  const ts = fc.oneof({ weight: 5, arbitrary: arbTimestamp }, { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) });
  const series = fc.array(
    fc.record({
      labels: fc.array(fc.tuple(part, part), { maxLength: 14 }),
      samples: fc.array(fc.tuple(value, ts), { maxLength: 4 }),
    }),
    { maxLength: 10 },
  );
  const d = new PrwDecoder(NO_LIMITS);
  fc.assert(
    fc.property(series, (input) => {
      const body = encodeWriteRequest(input);
      const ref = refDecode(body);
      const want: RefWriteRequest = {
        timeseries: input.map((s) => ({
          labels: s.labels.map(([name, value]) => ({ name, value })),
          samples: s.samples.map(([v, ts]) => ({
            value: typeof v === 'bigint' ? NaN : v,
            timestamp: typeof ts === 'bigint' ? Number(BigInt.asIntN(64, ts)) : ts,
          })),
          exemplars: [],
          histograms: [],
        })),
        metadata: [],
      };
      assert.deepStrictEqual(ref, want);
      // Our decoder reads the same back, byte for byte in the labels.
      const v = d.decode(body);
      assert.equal(v.seriesCount, input.length);
      for (let i = 0; i < v.seriesCount; i++) {
        const s = seriesToObject(v, i);
        assert.deepStrictEqual(s.labels, want.timeseries[i]!.labels.map((l) => [l.name, l.value]));
        assert.deepStrictEqual(
          s.samples,
          want.timeseries[i]!.samples.map((x) => [x.value, x.timestamp]),
        );
      }
      // Without bigints, the bytes are exactly protobufjs' own encoding.
      const simple = input.every((s) => s.samples.every(([v, ts]) => typeof v === 'number' && typeof ts === 'number'));
      if (simple) {
        assert.ok(body.equals(refEncode(want)), 'same bytes as protobufjs');
      }
    }),
    { numRuns: 300 },
  );
  t.pass('300 random requests');
});
