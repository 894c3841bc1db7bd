// protobufjs, loaded from proto/, is the reference the hand-written PRW codec is checked against.
// int64 fields decode to plain numbers (no Long), which is exact for millisecond timestamps.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { forEachSample } from '../../src/protocol/prw/decode.js';
import {
  LABEL_STRIDE,
  L_NAME_END,
  L_NAME_START,
  L_VALUE_END,
  L_VALUE_START,
  SERIES_STRIDE,
  S_HISTOGRAM_COUNT,
  S_LABEL_COUNT,
  S_LABEL_FIRST,
  type WriteRequestView,
} from '../../src/protocol/prw/types.js';

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const protoDir = path.join(repoRoot, 'proto');
import { sharedDir } from './shared-dir.js';
export { sharedDir };
export const capturesDir = path.join(sharedDir, 'captures');

export interface RefLabel<T = string> {
  name: T;
  value: T;
}
export interface RefSample {
  value: number;
  timestamp: number;
}
export interface RefTimeSeries<T = string> {
  labels: RefLabel<T>[];
  samples: RefSample[];
  exemplars?: { labels: RefLabel<T>[]; value: number; timestamp: number }[];
  histograms?: Record<string, unknown>[];
}
export interface RefWriteRequest<T = string> {
  timeseries: RefTimeSeries<T>[];
  metadata?: { type?: number; metric_family_name?: string; help?: string; unit?: string }[];
}

const root = new protobuf.Root();
root.loadSync(path.join(protoDir, 'remote.proto'), { keepCase: true });
root.resolveAll();

// The same schema with Label.name/value as bytes, so tests can use label bytes that are not UTF-8.
const rootJson = root.toJSON() as { nested: { prometheus: { nested: Record<string, { fields?: Record<string, { type: string }> }> } } };
const labelFields = rootJson.nested.prometheus.nested.Label!.fields!;
labelFields.name!.type = 'bytes';
labelFields.value!.type = 'bytes';
const bytesRoot = protobuf.Root.fromJSON(rootJson as unknown as protobuf.INamespace);
bytesRoot.resolveAll();

export const WriteRequest = root.lookupType('prometheus.WriteRequest');
export const WriteRequestBytes = bytesRoot.lookupType('prometheus.WriteRequest');

const toObjectOpts: protobuf.IConversionOptions = { defaults: true, arrays: true, longs: Number };

/** Decode with protobufjs; label names and values as strings. Missing fields get their defaults. */
export function refDecode(buf: Uint8Array): RefWriteRequest<string> {
  return WriteRequest.toObject(WriteRequest.decode(buf), toObjectOpts) as RefWriteRequest<string>;
}

/** Decode with protobufjs; label names and values as Buffers. */
export function refDecodeBytes(buf: Uint8Array): RefWriteRequest<Uint8Array> {
  return WriteRequestBytes.toObject(WriteRequestBytes.decode(buf), toObjectOpts) as RefWriteRequest<Uint8Array>;
}

/** Encode with protobufjs; label names and values as strings. */
export function refEncode(msg: RefWriteRequest<string>): Buffer {
  const m = WriteRequest.fromObject(msg);
  return Buffer.from(WriteRequest.encode(m).finish());
}

/** Encode with protobufjs; label names and values as bytes. */
export function refEncodeBytes(msg: RefWriteRequest<Uint8Array>): Buffer {
  const m = WriteRequestBytes.fromObject(msg);
  return Buffer.from(WriteRequestBytes.encode(m).finish());
}

// ---- Converting a decoded view into the reference shape, for comparisons. ----
export interface ViewSeries {
  labels: [Buffer, Buffer][];
  samples: [number, number][];
  histograms: number;
}

/** Every series of a view (kept or dropped) with label bytes copied out. */
export function viewSeries(view: WriteRequestView): ViewSeries[] {
  const out: ViewSeries[] = [];
  for (let i = 0; i < view.seriesCount; i++) {
    const si = i * SERIES_STRIDE;
    const first = view.series[si + S_LABEL_FIRST]!;
    const n = view.series[si + S_LABEL_COUNT]!;
    const labels: [Buffer, Buffer][] = [];
    for (let j = first; j < first + n; j++) {
      const li = j * LABEL_STRIDE;
      labels.push([
        Buffer.from(view.buf.subarray(view.labels[li + L_NAME_START]!, view.labels[li + L_NAME_END]!)),
        Buffer.from(view.buf.subarray(view.labels[li + L_VALUE_START]!, view.labels[li + L_VALUE_END]!)),
      ]);
    }
    const samples: [number, number][] = [];
    forEachSample(view, i, (v, t) => samples.push([v, t]));
    out.push({ labels, samples, histograms: view.series[si + S_HISTOGRAM_COUNT]! });
  }
  return out;
}

/** Bits of a double, so NaN payloads (the stale marker) can be compared. */
export function doubleBits(v: number): bigint {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(v);
  return b.readBigUInt64LE();
}

export function bitsToDouble(bits: bigint): number {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(bits);
  return b.readDoubleLE();
}

// ---- fast-check arbitraries for random WriteRequests (label bytes need not be UTF-8). ----
const te = new TextEncoder();
/**
 * Strings of any Unicode scalar values. fast-check's own `unit: 'binary'` precomputes ~80 MB
 * of tables at creation, which would slow every importer of this helper (the benchmark too).
 */
export function arbUnicodeString(maxLength: number): fc.Arbitrary<string> {
  const codePoint = fc
    .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0x80, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff }))
    .map((cp) => String.fromCodePoint(cp));
  return fc.string({ unit: codePoint, maxLength });
}
const labelPart = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }).map((s) => te.encode(s)) },
  { weight: 2, arbitrary: arbUnicodeString(8).map((s) => te.encode(s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 300 }) },
);
const STALE = bitsToDouble(0x7ff0000000000002n);
export const arbSampleValue = fc.oneof(
  { weight: 4, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, STALE, 0, -0, Number.MAX_VALUE, Number.MIN_VALUE) },
);
export const arbTimestamp = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }).map(Number) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1, 2 ** 31, -(2 ** 31), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER) },
);
const refLabel = fc.record({ name: labelPart, value: labelPart });
const histogram = fc.record(
  {
    count_int: fc.nat(),
    sum: fc.double({ noNaN: true }),
    schema: fc.integer({ min: -4, max: 8 }),
    positive_spans: fc.array(fc.record({ offset: fc.integer({ min: -100, max: 100 }), length: fc.nat(10) }), { maxLength: 3 }),
    positive_deltas: fc.array(fc.integer(), { maxLength: 4 }),
    negative_counts: fc.array(fc.double(), { maxLength: 3 }),
    timestamp: arbTimestamp,
  },
  { requiredKeys: ['timestamp'] },
);
const refSeries: fc.Arbitrary<RefTimeSeries<Uint8Array>> = fc.record({
  labels: fc.array(refLabel, { maxLength: 16 }),
  samples: fc.array(fc.record({ value: arbSampleValue, timestamp: arbTimestamp }), { maxLength: 4 }),
  exemplars: fc.oneof(
    { weight: 5, arbitrary: fc.constant<NonNullable<RefTimeSeries<Uint8Array>['exemplars']>>([]) },
    { weight: 1, arbitrary: fc.array(fc.record({ labels: fc.array(refLabel, { maxLength: 2 }), value: fc.double(), timestamp: arbTimestamp }), { maxLength: 2 }) },
  ),
  histograms: fc.oneof({ weight: 6, arbitrary: fc.constant<Record<string, unknown>[]>([]) }, { weight: 1, arbitrary: fc.array(histogram, { minLength: 1, maxLength: 2 }) }),
});
export const arbRefRequest: fc.Arbitrary<RefWriteRequest<Uint8Array>> = fc.record({
  timeseries: fc.array(refSeries, { maxLength: 12 }),
  metadata: fc.oneof(
    { weight: 4, arbitrary: fc.constant<NonNullable<RefWriteRequest['metadata']>>([]) },
    {
      weight: 1,
      arbitrary: fc.array(
        fc.record({ type: fc.integer({ min: 0, max: 7 }), metric_family_name: fc.string(), help: fc.string(), unit: fc.string() }),
        { maxLength: 3 },
      ),
    },
  ),
});

