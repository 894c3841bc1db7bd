// protobufjs, loaded from proto/io/prometheus/write/v2/types.proto, as the reference the
// remote-write 2.0 converter is checked against; plus fast-check arbitraries for 2.0
// requests and the 1.0 request each one should become.
import path from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { arbSampleValue, arbTimestamp, protoDir, type RefTimeSeries, type RefWriteRequest } from '../helpers/prw-reference.js';

const root = new protobuf.Root();
root.loadSync(path.join(protoDir, 'io', 'prometheus', 'write', 'v2', 'types.proto'), { keepCase: true });
root.resolveAll();

// The same schema with symbols as bytes, so tests can use symbols that are not UTF-8.
interface Ns {
  nested?: Record<string, Ns>;
  fields?: Record<string, { type: string }>;
}
const json = root.toJSON() as Ns;
json.nested!.io!.nested!.prometheus!.nested!.write!.nested!.v2!.nested!.Request!.fields!.symbols!.type = 'bytes';
const bytesRoot = protobuf.Root.fromJSON(json as unknown as protobuf.INamespace);
bytesRoot.resolveAll();

export const RequestV2 = root.lookupType('io.prometheus.write.v2.Request');
export const RequestV2Bytes = bytesRoot.lookupType('io.prometheus.write.v2.Request');

export interface RefV2Series {
  labels_refs: number[];
  samples?: { value: number; timestamp: number }[];
  histograms?: Record<string, unknown>[];
  exemplars?: { labels_refs: number[]; value: number; timestamp: number }[];
  metadata?: { type?: number; help_ref?: number; unit_ref?: number };
  created_timestamp?: number;
}
export interface RefV2Request {
  symbols: Uint8Array[];
  timeseries: RefV2Series[];
}

export function encodeV2(msg: RefV2Request): Buffer {
  return Buffer.from(RequestV2Bytes.encode(RequestV2Bytes.fromObject(msg)).finish());
}

export function decodeV2(buf: Uint8Array): RefV2Request {
  return RequestV2Bytes.toObject(RequestV2Bytes.decode(buf), { defaults: true, arrays: true, longs: Number }) as RefV2Request;
}

/** The 1.0 request a 2.0 request should convert to (series with nothing to forward are left out). */
export function expectedV1(req: RefV2Request): RefWriteRequest<Uint8Array> {
  const sym = (i: number) => req.symbols[i]!;
  const pairs = (refs: number[]) => {
    const out = [];
    for (let i = 0; i < refs.length; i += 2) out.push({ name: sym(refs[i]!), value: sym(refs[i + 1]!) });
    return out;
  };
  const timeseries: RefTimeSeries<Uint8Array>[] = [];
  for (const s of req.timeseries) {
    const samples = s.samples ?? [];
    const histograms = s.histograms ?? [];
    const exemplars = s.exemplars ?? [];
    if (samples.length + histograms.length + exemplars.length === 0) continue;
    timeseries.push({
      labels: pairs(s.labels_refs),
      samples,
      exemplars: exemplars.map((e) => ({ labels: pairs(e.labels_refs), value: e.value, timestamp: e.timestamp })),
      histograms,
    });
  }
  return { timeseries, metadata: [] };
}

const te = new TextEncoder();
const symbol = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }).map((s) => te.encode(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 130, maxLength: 300 }) },
);
const histogram = fc.record(
  {
    count_int: fc.nat(),
    sum: fc.double({ noNaN: true }),
    schema: fc.integer({ min: -4, max: 8 }),
    zero_threshold: fc.double({ noNaN: true, min: 0, max: 1 }),
    positive_spans: fc.array(fc.record({ offset: fc.integer({ min: -100, max: 100 }), length: fc.nat(10) }), { maxLength: 3 }),
    positive_deltas: fc.array(fc.integer(), { maxLength: 4 }),
    negative_counts: fc.array(fc.double(), { maxLength: 3 }),
    reset_hint: fc.integer({ min: 0, max: 3 }),
    timestamp: arbTimestamp,
    custom_values: fc.array(fc.double({ noNaN: true }), { maxLength: 2 }),
  },
  { requiredKeys: ['timestamp'] },
);

/** Random 2.0 requests whose refs are all valid. */
export const arbV2Request: fc.Arbitrary<RefV2Request> = fc
  .array(symbol, { minLength: 1, maxLength: 20 })
  .map((s) => [new Uint8Array(0), ...s])
  .chain((symbols) => {
    const ref = fc.nat(symbols.length - 1);
    const refs = fc.array(fc.tuple(ref, ref), { maxLength: 12 }).map((ps) => ps.flat());
    const series: fc.Arbitrary<RefV2Series> = fc.record(
      {
        labels_refs: refs,
        samples: fc.array(fc.record({ value: arbSampleValue, timestamp: arbTimestamp }), { maxLength: 4 }),
        histograms: fc.oneof(
          { weight: 5, arbitrary: fc.constant<Record<string, unknown>[]>([]) },
          { weight: 1, arbitrary: fc.array(histogram, { minLength: 1, maxLength: 2 }) as fc.Arbitrary<Record<string, unknown>[]> },
        ),
        exemplars: fc.oneof(
          { weight: 4, arbitrary: fc.constant<NonNullable<RefV2Series['exemplars']>>([]) },
          { weight: 1, arbitrary: fc.array(fc.record({ labels_refs: refs, value: fc.double(), timestamp: arbTimestamp }), { maxLength: 2 }) },
        ),
        metadata: fc.record({ type: fc.integer({ min: 0, max: 7 }), help_ref: ref, unit_ref: ref }),
        created_timestamp: fc.oneof(fc.constant(0), arbTimestamp),
      },
      { requiredKeys: ['labels_refs'] },
    );
    return fc.record({ symbols: fc.constant(symbols), timeseries: fc.array(series, { maxLength: 10 }) });
  });
