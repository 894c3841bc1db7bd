// Bounded fuzzing of the ingest codecs: whatever the bytes, the result is a consistent view
// or a SpillwayError with a decode code, never another exception and never a hang.
// SPILLWAY_LONG=1 runs ~100× more cases (about 200k per property).
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { SpillwayError, type ErrorCode } from '../../src/errors.js';
import { snappyAvailable, snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import {
  LABEL_STRIDE,
  L_NAME_END,
  L_NAME_START,
  L_VALUE_END,
  L_VALUE_START,
  SERIES_STRIDE,
  S_DROP,
  S_END,
  S_HISTOGRAM_COUNT,
  S_LABEL_COUNT,
  S_LABEL_FIRST,
  S_SAMPLE_COUNT,
  S_START,
  DropReason,
  type WriteRequestView,
} from '../../src/protocol/prw/types.js';
import { arbRefRequest, capturesDir, refDecodeBytes, refEncodeBytes, viewSeries } from '../helpers/prw-reference.js';

const LONG = process.env.SPILLWAY_LONG === '1';
const runs = (n: number): number => (LONG ? n * 100 : n);
const MAX = 4 * 1024 * 1024;
const LIMITS = { maxLabelsPerTimeseries: 8, maxLabelNameLen: 16, maxLabelValueLen: 32 };
const PROTO_CODES: ErrorCode[] = ['SPW_ERR_BAD_PROTOBUF'];
const SNAPPY_CODES: ErrorCode[] = ['SPW_ERR_BAD_SNAPPY', 'SPW_ERR_DECOMPRESSED_TOO_LARGE'];

/** Run fn; a SpillwayError with one of `codes` is an accepted outcome (undefined), anything else is rethrown. */
function only<T>(codes: ErrorCode[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SpillwayError && codes.includes(err.code) && /offset \d+/.test(err.message)) return undefined;
    throw err;
  }
}

/** Everything a consumer of a view relies on. */
function checkView(v: WriteRequestView, buf: Buffer): void {
  const n = buf.length;
  let samples = 0;
  let histograms = 0;
  let dropped = 0;
  let labelsSeen = 0;
  let prevEnd = 0;
  for (let i = 0; i < v.seriesCount; i++) {
    const si = i * SERIES_STRIDE;
    const start = v.series[si + S_START]!;
    const end = v.series[si + S_END]!;
    if (!(start >= prevEnd && start < end && end <= n)) throw new Error(`series ${i} range [${start},${end}) in ${n}`);
    if (buf[start]! !== 0x0a && buf[start]! !== 0x8a) throw new Error(`series ${i} does not start with a timeseries tag`);
    prevEnd = end;
    const first = v.series[si + S_LABEL_FIRST]!;
    const count = v.series[si + S_LABEL_COUNT]!;
    if (first !== labelsSeen) throw new Error(`series ${i} labels not contiguous`);
    labelsSeen += count;
    for (let j = first; j < first + count; j++) {
      const li = j * LABEL_STRIDE;
      const a = v.labels[li + L_NAME_START]!;
      const b = v.labels[li + L_NAME_END]!;
      const c = v.labels[li + L_VALUE_START]!;
      const d = v.labels[li + L_VALUE_END]!;
      if (!(start < a && a <= b && b <= end && start < c && c <= d && d <= end)) throw new Error(`label ${j} outside series ${i}`);
    }
    if (v.series[si + S_DROP] === 0) {
      samples += v.series[si + S_SAMPLE_COUNT]!;
      histograms += v.series[si + S_HISTOGRAM_COUNT]!;
    } else dropped++;
  }
  if (samples !== v.sampleCount || histograms !== v.histogramCount) throw new Error('kept counts disagree');
  if (dropped !== v.droppedSeries.reduce((x, y) => x + y, 0)) throw new Error('dropped counts disagree');
  if (v.minTimestamp > v.maxTimestamp) throw new Error('min > max');
}

/** When protobufjs also accepts the bytes, both must see the same series. */
function differential(v: WriteRequestView, buf: Buffer): void {
  let ref;
  try {
    ref = refDecodeBytes(buf);
  } catch {
    return; // protobufjs is lenient in other ways; only agreement on common ground is checked
  }
  if (ref.timeseries.length !== v.seriesCount) throw new Error(`protobufjs sees ${ref.timeseries.length} series, we see ${v.seriesCount}`);
  viewSeries(v).forEach((s, i) => {
    const r = ref.timeseries[i]!;
    // A series over the label limit is dropped, and only its first limit+1 labels are indexed.
    if (v.series[i * SERIES_STRIDE + S_DROP] === DropReason.TooManyLabels) {
      if (r.labels.length <= LIMITS.maxLabelsPerTimeseries || s.labels.length > LIMITS.maxLabelsPerTimeseries + 1) throw new Error(`series ${i}: label limit misapplied`);
      return;
    }
    if (s.labels.length !== r.labels.length || s.samples.length !== r.samples.length) throw new Error(`series ${i} differs from protobufjs`);
    s.labels.forEach(([name, value], j) => {
      if (!name.equals(r.labels[j]!.name) || !value.equals(r.labels[j]!.value)) throw new Error(`series ${i} label ${j} differs`);
    });
  });
}

function decodeChecked(d: PrwDecoder, buf: Buffer): void {
  const v = only(PROTO_CODES, () => d.decode(buf));
  if (v) {
    checkView(v, buf);
    differential(v, buf);
  }
}

// Valid bodies to mutate: the captures plus random requests.
const corpus: Buffer[] = [];
for (const client of ['vmagent-1.79.5', 'prometheus-2.42-agent', 'vmagent-1.93.7']) {
  corpus.push(fs.readFileSync(path.join(capturesDir, client, 'body-0.pb')));
}
corpus.push(
  encodeWriteRequest([
    { labels: [['__name__', 'up'], ['job', 'x']], samples: [[1, -5], [2, 1795630844718]] },
    { labels: [['a', 'b']], samples: [] },
  ]),
);
for (const msg of fc.sample(arbRefRequest, { numRuns: 40, seed: 7 })) corpus.push(refEncodeBytes(msg));

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; bits: number[] }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'varint'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.constantFrom(0x00, 0x80, 0xff, 0x0a, 0x12, 0x0b, 0x0f, 0x7f) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({
    kind: fc.constant('varint' as const),
    at: fc.nat(),
    // Overlong, huge and 64-bit-overflowing varints spliced over the body.
    bytes: fc.constantFrom(
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x08]),
    ),
  }),
);

function mutate(src: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    switch (m.kind) {
      case 'truncate':
        b = b.subarray(0, m.at % b.length);
        break;
      case 'flip':
        for (const bit of m.bits) b[(bit >>> 3) % b.length]! ^= 1 << (bit & 7);
        break;
      case 'set':
        b[m.at % b.length] = m.byte;
        break;
      case 'insert': {
        const at = m.at % b.length;
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      }
      case 'varint': {
        const at = m.at % b.length;
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(Math.min(b.length, at + m.bytes.length))]);
        break;
      }
    }
  }
  return b;
}

// A structure-aware generator: nested fields with arbitrary numbers, wire types and lengths
// that may or may not match their contents.
interface Node {
  field: number;
  wire: number;
  payload: Uint8Array | Node[];
  lenDelta: number;
}
const leafPayload = fc.uint8Array({ maxLength: 12 });
const tree: fc.Arbitrary<Node[]> = fc.letrec<{ nodes: Node[]; node: Node }>((tie) => ({
  nodes: fc.array(tie('node'), { maxLength: 5 }),
  node: fc.record({
    field: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(15, 16, 100, 2 ** 29 - 1)),
    wire: fc.oneof({ weight: 6, arbitrary: fc.constant(2) }, { weight: 4, arbitrary: fc.integer({ min: 0, max: 7 }) }),
    payload: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leafPayload, tie('nodes')),
    lenDelta: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) }, { weight: 1, arbitrary: fc.constant(2 ** 31) }),
  }),
})).nodes;

function uvarint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function serialize(nodes: Node[], out: number[] = []): number[] {
  for (const n of nodes) {
    uvarint(n.field * 8 + n.wire, out);
    const payload = Array.isArray(n.payload) ? serialize(n.payload) : Array.from(n.payload);
    if (n.wire === 2) uvarint(Math.max(0, payload.length + n.lenDelta), out);
    else if (n.wire === 0) {
      uvarint(payload.length * 1000, out);
      continue;
    }
    out.push(...payload);
  }
  return out;
}

t.test('random bytes', async (t) => {
  const d = new PrwDecoder(LIMITS);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => decodeChecked(d, Buffer.from(bytes))),
    { numRuns: runs(2000) },
  );
  t.pass();
});

t.test('mutated valid bodies', async (t) => {
  const d = new PrwDecoder(LIMITS);
  fc.assert(
    fc.property(fc.nat(corpus.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (i, ms) => decodeChecked(d, mutate(corpus[i]!, ms))),
    { numRuns: runs(2000) },
  );
  t.pass();
});

t.test('structured garbage: wrong wire types, bad lengths, odd field numbers', async (t) => {
  const d = new PrwDecoder(LIMITS);
  fc.assert(
    fc.property(tree, (nodes) => decodeChecked(d, Buffer.from(serialize(nodes)))),
    { numRuns: runs(2000) },
  );
  t.pass();
});

t.test('snappy: random bytes, mutated blocks and huge declared sizes', async (t) => {
  const d = new PrwDecoder(LIMITS);
  const blocks = corpus.map((b) => snappyCompress(b));
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.tuple(fc.nat(blocks.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([i, ms]) => mutate(blocks[i]!, ms)),
    fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 64 })).map(([declared, rest]) => {
      const out: number[] = [];
      uvarint(declared, out);
      return Buffer.concat([Buffer.from(out), rest]);
    }),
  );
  fc.assert(
    fc.property(body, fc.constantFrom(...snappyAvailable), (bytes, impl) => {
      const raw = only(SNAPPY_CODES, () => snappyUncompress(bytes, MAX, impl));
      if (raw) decodeChecked(d, raw);
    }),
    { numRuns: runs(2000) },
  );
  t.pass();
});

t.test('implementations agree on which snappy blocks are valid', async (t) => {
  if (snappyAvailable.length < 2) {
    t.pass('only one implementation');
    return;
  }
  const blocks = corpus.map((b) => snappyCompress(b));
  fc.assert(
    fc.property(fc.nat(blocks.length - 1), fc.array(mutation, { minLength: 1, maxLength: 2 }), (i, ms) => {
      const bytes = mutate(blocks[i]!, ms);
      const outs = snappyAvailable.map((impl) => only(SNAPPY_CODES, () => snappyUncompress(bytes, MAX, impl)));
      const ok = outs.map((o) => o !== undefined);
      if (ok.some((x) => x !== ok[0])) throw new Error(`implementations disagree on validity: ${ok}`);
      if (ok[0] && !outs.every((o) => o!.equals(outs[0]!))) throw new Error('implementations disagree on output');
    }),
    { numRuns: runs(1000) },
  );
  t.pass();
});
