// Remote-write 2.0 → 1.0 conversion, checked against protobufjs on random requests, plus
// hand-made edge cases and bounded fuzzing with typed errors.
import t from 'tap';
import fc from 'fast-check';
import { SpillwayError, type ErrorCode } from '../../src/errors.js';
import { Prw2Converter } from '../../src/protocol/prw2/convert.js';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { refDecodeBytes, refEncodeBytes } from '../helpers/prw-reference.js';
import { arbV2Request, decodeV2, encodeV2, expectedV1, type RefV2Request } from './prw2-reference.js';

const LONG = process.env.SPILLWAY_LONG === '1';
const runs = (n: number): number => (LONG ? n * 100 : n);
const MAX = 1 << 22;
const te = new TextEncoder();
const s = (x: string) => te.encode(x);

/** Canonical bytes of a 1.0 request: decoded and re-encoded by protobufjs. */
const canon = (buf: Uint8Array) => refEncodeBytes(refDecodeBytes(buf));

function codeOf(fn: () => unknown): ErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof SpillwayError) return err.code;
    throw err;
  }
}

t.test('property: the 1.0 form of a random 2.0 request is what protobufjs says it should be', async (t) => {
  const conv = new Prw2Converter({ maxOutputBytes: MAX });
  const v1 = new PrwDecoder({ maxLabelsPerTimeseries: 1 << 20, maxLabelNameLen: 1 << 20, maxLabelValueLen: 1 << 20 });
  fc.assert(
    fc.property(arbV2Request, (req) => {
      const body = encodeV2(req);
      const out = conv.convert(body);
      const want = expectedV1(decodeV2(body));
      if (!canon(out).equals(canon(refEncodeBytes(want)))) return false;
      // Counts, and the per-series exemplar table the Written header relies on.
      const st = conv.stats;
      if (st.series !== req.timeseries.length || st.convertedSeries !== want.timeseries.length) return false;
      const view = v1.decode(Buffer.from(out));
      if (view.seriesCount !== want.timeseries.length) return false;
      for (let i = 0; i < view.seriesCount; i++) if (conv.exemplarsOf(i) !== (want.timeseries[i]!.exemplars ?? []).length) return false;
      const samples = want.timeseries.reduce((n, x) => n + x.samples.length, 0);
      const histograms = want.timeseries.reduce((n, x) => n + (x.histograms ?? []).length, 0);
      const metadata = req.timeseries.filter((x) => x.metadata && (x.metadata.type || x.metadata.help_ref || x.metadata.unit_ref)).length;
      const created = req.timeseries.filter((x) => x.created_timestamp).length;
      return (
        st.samples === samples &&
        view.sampleCount === samples &&
        st.histograms === histograms &&
        view.histogramCount === histograms &&
        st.metadataDropped === metadata &&
        st.createdTimestampsDropped === created
      );
    }),
    { numRuns: runs(300) },
  );
  t.pass('agrees with protobufjs');
});

/** Hand-encode protobuf pieces. */
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
};
const ld = (tag: number, body: number[] | Uint8Array): number[] => [tag, ...varint(body.length), ...body];
const sym = (x: string) => ld(0x22, [...s(x)]);
const sample = (v: number, ts: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return ld(0x12, [0x09, ...b, 0x10, ...varint(ts)]);
};

t.test('unpacked label refs, and symbols after the series that use them', async (t) => {
  const conv = new Prw2Converter({ maxOutputBytes: MAX });
  const series = ld(0x2a, [0x08, 1, 0x08, 2, ...ld(0x0a, [3, 4]), ...sample(1.5, 1700000000000)]);
  const body = Buffer.from([...series, ...sym(''), ...sym('__name__'), ...sym('up'), ...sym('job'), ...sym('node')]);
  const out = refDecodeBytes(conv.convert(body));
  t.same(
    out.timeseries[0]!.labels.map((l) => [Buffer.from(l.name).toString(), Buffer.from(l.value).toString()]),
    [
      ['__name__', 'up'],
      ['job', 'node'],
    ],
  );
  t.same(out.timeseries[0]!.samples, [{ value: 1.5, timestamp: 1700000000000 }]);
});

t.test('metadata-only series and created timestamps are counted, not forwarded', async (t) => {
  const conv = new Prw2Converter({ maxOutputBytes: MAX });
  const req: RefV2Request = {
    symbols: [s(''), s('__name__'), s('up'), s('help text'), s('seconds')],
    timeseries: [
      { labels_refs: [1, 2], metadata: { type: 2, help_ref: 3, unit_ref: 4 } },
      { labels_refs: [1, 2], samples: [{ value: 1, timestamp: 5 }], created_timestamp: 1234, metadata: { type: 0, help_ref: 0, unit_ref: 0 } },
    ],
  };
  const out = conv.convert(encodeV2(req));
  t.equal(refDecodeBytes(out).timeseries.length, 1);
  t.equal(conv.stats.metadataDropped, 1, 'empty metadata is not metadata');
  t.equal(conv.stats.createdTimestampsDropped, 1);
  t.equal(conv.sourceSeriesOf(0), 1);
});

t.test('malformed requests: typed errors naming what and where', async (t) => {
  const conv = new Prw2Converter({ maxOutputBytes: MAX });
  const cases: [string, number[], RegExp][] = [
    ['ref past the symbols', [...sym(''), ...ld(0x2a, ld(0x0a, [5, 0]))], /label ref 5 is past the 1 symbols at offset 4/],
    ['odd refs', [...sym(''), ...sym('a'), ...ld(0x2a, ld(0x0a, [1]))], /odd number \(1\) of label refs/],
    ['exemplar ref past the symbols', [...sym(''), ...ld(0x2a, ld(0x22, ld(0x0a, [0, 9])))], /exemplar label ref 9 is past/],
    ['truncated series', [0x2a, 10, 1, 2], /Request.timeseries length 10 runs past its parent \(2 bytes left\) at offset 0/],
    ['symbols as varint', [0x20, 1], /Request.symbols has wire type varint at offset 0/],
    ['field number 0', [0x02, 0], /Request field number 0 at offset 0/],
    ['samples as varint', [...ld(0x2a, [0x10, 1])], /TimeSeries field 2 has wire type varint/],
    ['group wire type', [0x33], /Request field 6 has unsupported start-group at offset 0/],
  ];
  for (const [name, bytes, msg] of cases) {
    t.throws(() => conv.convert(Buffer.from(bytes)), { code: 'SPW_ERR_BAD_PRW2', message: msg }, name);
  }
  // A 1.0 WriteRequest labelled as 2.0: only reserved fields, no series.
  const v1 = refEncodeBytes({ timeseries: [{ labels: [{ name: s('__name__'), value: s('up') }], samples: [{ value: 1, timestamp: 1 }] }] });
  t.throws(() => conv.convert(v1), { code: 'SPW_ERR_BAD_PRW2', message: /remote-write 1.0 WriteRequest in a request labelled 2.0/ });
  // An empty request is valid and converts to nothing.
  t.equal(conv.convert(Buffer.alloc(0)).length, 0);
});

t.test('one long symbol named many times cannot blow the output past the limit', async (t) => {
  const conv = new Prw2Converter({ maxOutputBytes: 1 << 20 });
  const refs = Array.from({ length: 2000 }, () => [1, 1]).flat();
  const body = Buffer.from([...sym(''), ...ld(0x22, [...Buffer.alloc(10_000, 0x61)]), ...ld(0x2a, [...ld(0x0a, refs), ...sample(1, 1)])]);
  t.ok(body.length < 20_000);
  t.throws(() => conv.convert(body), { code: 'SPW_ERR_DECOMPRESSED_TOO_LARGE', message: /converted to 1.0 exceeds the limit of 1048576 bytes/ });
  // The converter is usable afterwards.
  t.equal(refDecodeBytes(conv.convert(Buffer.from([...sym(''), ...sym('a'), ...ld(0x2a, [...ld(0x0a, [1, 1]), ...sample(2, 3)])]))).timeseries.length, 1);
});

t.test('fuzz: truncations, byte flips and garbage give a typed error or a valid 1.0 request', async (t) => {
  const conv = new Prw2Converter({ maxOutputBytes: 1 << 20 });
  const v1 = new PrwDecoder({ maxLabelsPerTimeseries: 1 << 20, maxLabelNameLen: 1 << 20, maxLabelValueLen: 1 << 20 });
  const ok: (ErrorCode | 'ok')[] = ['ok', 'SPW_ERR_BAD_PRW2', 'SPW_ERR_DECOMPRESSED_TOO_LARGE'];
  const started = Date.now();
  fc.assert(
    fc.property(
      arbV2Request,
      fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 3 }),
      fc.nat(),
      (req, flips, cut) => {
        const b = encodeV2(req);
        for (const { at, xor } of flips) if (b.length) b[at % b.length]! ^= xor;
        const body = flips.length === 0 && b.length ? b.subarray(0, cut % b.length) : b;
        let out: Buffer | undefined;
        const c = codeOf(() => (out = conv.convert(body)));
        if (!ok.includes(c)) return false;
        // Whatever converted is framed well enough for the 1.0 decoder to give a view or a typed error.
        if (out) {
          const d = codeOf(() => v1.decode(Buffer.from(out!)));
          if (d !== 'ok' && d !== 'SPW_ERR_BAD_PROTOBUF') return false;
        }
        return true;
      },
    ),
    { numRuns: runs(400) },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => ok.includes(codeOf(() => conv.convert(Buffer.from(bytes))))),
    { numRuns: runs(2000) },
  );
  t.ok(Date.now() - started < (LONG ? 100 : 1) * 8000, 'bounded time');
});
