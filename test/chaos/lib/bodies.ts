// Request bodies for the bad-input suite: valid ones to start from, and every way to break
// them that a decoder has to survive. Written from the formats' specifications (protobuf
// wire format, snappy block format, zstd frame format RFC 8878, remote-write 1.0 and 2.0).

import { encodeWriteRequest, STALE_NAN_BITS, type SeriesInput } from '../../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../../src/protocol/snappy.js';
import type { Rng } from './common.js';

// ---------------------------------------------------------------- protobuf wire format

export const WIRE = { varint: 0, fixed64: 1, len: 2, sgroup: 3, egroup: 4, fixed32: 5 } as const;

export function varint(v: number | bigint): Buffer {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return Buffer.from(out);
}

export const tag = (field: number, wire: number) => varint(field * 8 + wire);
export const lenField = (field: number, body: Buffer) => Buffer.concat([tag(field, WIRE.len), varint(body.length), body]);
export const varintField = (field: number, v: number | bigint) => Buffer.concat([tag(field, WIRE.varint), varint(v)]);
export function fixed64Field(field: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return Buffer.concat([tag(field, WIRE.fixed64), b]);
}

// ---------------------------------------------------------------- remote-write 1.0

/** A plausible request: `series` series with `samples` samples each. */
export function prw1(rng: Rng, series = rng.int(1, 50), samples = rng.int(1, 5)): Buffer {
  const now = Date.now();
  const list: SeriesInput[] = Array.from({ length: series }, (_, i) => ({
    labels: [
      ['__name__', `chaos_input_${rng.int(0, 20)}`],
      ['instance', `host-${rng.int(0, 99)}:9100`],
      ['job', 'chaos'],
      ['i', String(i)],
    ],
    samples: Array.from({ length: samples }, (_, k) => [rng.next() * 1000, now - k * 15_000] as const),
  }));
  return encodeWriteRequest(list);
}

/** Structurally valid requests that stress what the values and labels may be. */
export function prw1Edge(rng: Rng): { raw: Buffer; what: string } {
  const now = Date.now();
  const long = (n: number) => 'x'.repeat(n);
  const name = (): [string, string] => ['__name__', 'chaos_edge'];
  const cases: [string, () => SeriesInput[]][] = [
    ['NaN, ±Inf, -0, stale marker', () => [{ labels: [name()], samples: [[NaN, now], [Infinity, now + 1], [-Infinity, now + 2], [-0, now + 3], [STALE_NAN_BITS, now + 4], [0x7ff8000000000001n, now + 5]] }]],
    ['empty label name', () => [{ labels: [name(), ['', 'v']], samples: [[1, now]] }]],
    ['empty label value', () => [{ labels: [name(), ['job', '']], samples: [[1, now]] }]],
    ['no labels at all', () => [{ labels: [], samples: [[1, now]] }]],
    ['no __name__', () => [{ labels: [['job', 'x']], samples: [[1, now]] }]],
    ['duplicate labels', () => [{ labels: [name(), ['a', '1'], ['a', '2'], ['a', '1']], samples: [[1, now]] }]],
    ['unsorted labels', () => [{ labels: [['z', '1'], name(), ['a', '2']], samples: [[1, now]] }]],
    ['non-UTF-8 name and value', () => [{ labels: [name(), [Uint8Array.from([0xff, 0xfe, 0x41]), Uint8Array.from([0xc0, 0x80, 0xed, 0xa0, 0x80])]], samples: [[1, now]] }]],
    ['NUL bytes in labels', () => [{ labels: [name(), ['a\u0000b', 'c\u0000']], samples: [[1, now]] }]],
    ['label name over -maxLabelNameLen', () => [{ labels: [name(), [long(rng.int(257, 5000)), 'v']], samples: [[1, now]] }]],
    ['label value over -maxLabelValueLen', () => [{ labels: [name(), ['v', long(rng.int(4097, 70_000))]], samples: [[1, now]] }]],
    ['over -maxLabelsPerTimeseries', () => [{ labels: [name(), ...Array.from({ length: rng.int(41, 500) }, (_, i) => [`l${i}`, 'v'] as [string, string])], samples: [[1, now]] }]],
    ['timestamps 0, -1, int64 min/max', () => [{ labels: [name()], samples: [[1, 0], [2, -1], [3, -(2n ** 63n)], [4, 2n ** 63n - 1n]] }]],
    ['series without samples', () => [{ labels: [name()], samples: [] }]],
    ['one series, many samples', () => [{ labels: [name()], samples: Array.from({ length: rng.int(1000, 5000) }, (_, i) => [i, now - i] as const) }]],
    ['many tiny series', () => Array.from({ length: rng.int(1000, 5000) }, (_, i) => ({ labels: [['__name__', `m${i}`]], samples: [[i, now]] }))],
    ['unicode everywhere', () => [{ labels: [['__name__', 'métrique_😀'], ['ключ', '値'], ['\u202e', '\ufeff']], samples: [[1, now]] }]],
    ['out-of-order and duplicate timestamps', () => [{ labels: [name()], samples: [[1, now], [2, now - 1000], [3, now], [4, now]] }]],
  ];
  const [what, make] = rng.pick(cases);
  if (what === 'many tiny series' && rng.chance(0.5)) {
    return { raw: Buffer.concat([encodeWriteRequest(make()), lenField(3, Buffer.concat([varintField(1, 1), lenField(2, Buffer.from('m'))]))]), what: `${what} + metadata` };
  }
  return { raw: encodeWriteRequest(make()), what };
}

/** Broken protobuf, to be wrapped in valid snappy: every way the wire format can lie. */
export function protobufGarbage(rng: Rng, valid: Buffer): { raw: Buffer; what: string } {
  const sample = () => Buffer.concat([fixed64Field(1, rng.next()), varintField(2, Date.now())]);
  const label = () => Buffer.concat([lenField(1, Buffer.from('__name__')), lenField(2, Buffer.from('x'))]);
  const overlong = () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const cases: [string, () => Buffer][] = [
    ['timeseries field as varint', () => varintField(1, rng.int(0, 1 << 30))],
    ['timeseries field as fixed64', () => Buffer.concat([tag(1, WIRE.fixed64), Buffer.alloc(8)])],
    ['timeseries field as fixed32', () => Buffer.concat([tag(1, WIRE.fixed32), Buffer.alloc(4)])],
    ['wire types 6 and 7', () => Buffer.concat([tag(1, rng.pick([6, 7])), rng.bytes(8)])],
    ['start group never ended', () => Buffer.concat([tag(1, WIRE.sgroup), lenField(1, label())])],
    ['end group without start', () => tag(1, WIRE.egroup)],
    ['groups nested 100k deep', () => Buffer.concat([Buffer.alloc(100_000, 0x0b), Buffer.alloc(100_000, 0x0c)])],
    ['length-delimited nested 2k deep', () => {
      let b: Buffer = label();
      for (let i = 0; i < 2000; i++) b = lenField(1, b);
      return b;
    }],
    ['overlong varint tag', () => Buffer.concat([overlong(), Buffer.from([0x00])])],
    ['overlong varint length', () => Buffer.concat([tag(1, WIRE.len), overlong(), label()])],
    ['negative length (-1 as 10-byte varint)', () => Buffer.concat([tag(1, WIRE.len), varint(-1n), label()])],
    ['length 2^31', () => Buffer.concat([tag(1, WIRE.len), varint(2 ** 31), label()])],
    ['length past the end', () => Buffer.concat([tag(1, WIRE.len), varint(rng.int(10, 100_000)), label()])],
    ['truncated varint at the end', () => Buffer.concat([valid, Buffer.from([0x0a, 0x80])])],
    ['field number 0', () => Buffer.concat([Buffer.from([0x02]), varint(3), label().subarray(0, 3)])],
    ['field number 2^29-1 (unknown, kept going)', () => Buffer.concat([lenField(2 ** 29 - 1, rng.bytes(rng.int(0, 50))), valid])],
    ['unknown fields of every wire type', () => Buffer.concat([varintField(9, 1), Buffer.concat([tag(10, WIRE.fixed64), Buffer.alloc(8)]), lenField(11, rng.bytes(20)), Buffer.concat([tag(12, WIRE.fixed32), Buffer.alloc(4)]), valid])],
    ['label with wrong wire types', () => lenField(1, lenField(1, Buffer.concat([varintField(1, 5), fixed64Field(2, 1)])))],
    ['label name longer than the label', () => lenField(1, lenField(1, Buffer.concat([tag(1, WIRE.len), varint(200), Buffer.from('abc')])))],
    ['sample value as varint, timestamp as fixed64', () => lenField(1, Buffer.concat([lenField(1, label()), lenField(2, Buffer.concat([varintField(1, 7), Buffer.concat([tag(2, WIRE.fixed64), Buffer.alloc(8)])]))]))],
    ['sample value truncated fixed64', () => lenField(1, Buffer.concat([lenField(1, label()), lenField(2, Buffer.concat([tag(1, WIRE.fixed64), Buffer.alloc(3)]))]))],
    ['timestamp overlong varint', () => lenField(1, Buffer.concat([lenField(1, label()), lenField(2, Buffer.concat([tag(2, WIRE.varint), overlong()]))]))],
    ['histogram field of garbage', () => lenField(1, Buffer.concat([lenField(1, label()), lenField(4, rng.bytes(rng.int(1, 200)))]))],
    ['packed garbage in exemplars', () => lenField(1, Buffer.concat([lenField(1, label()), lenField(3, rng.bytes(rng.int(1, 200))), lenField(2, sample())]))],
    ['thousands of empty series', () => Buffer.alloc(2 * rng.int(1000, 50_000), Buffer.from([0x0a, 0x00]))],
    ['thousands of empty labels in one series', () => {
      const n = rng.int(1000, 50_000);
      return Buffer.concat([tag(1, WIRE.len), varint(2 * n), Buffer.alloc(2 * n, Buffer.from([0x0a, 0x00]))]);
    }],
    ['metadata with garbage', () => Buffer.concat([valid, lenField(3, rng.bytes(rng.int(1, 100)))])],
    ['random field soup', () => {
      const parts: Buffer[] = [];
      for (let i = rng.int(1, 30); i > 0; i--) {
        const w = rng.pick([0, 1, 2, 5]);
        const f = rng.int(1, 6);
        parts.push(w === 0 ? varintField(f, rng.int(0, 1e9)) : w === 1 ? Buffer.concat([tag(f, 1), rng.bytes(8)]) : w === 5 ? Buffer.concat([tag(f, 5), rng.bytes(4)]) : lenField(f, rng.bytes(rng.int(0, 64))));
      }
      return Buffer.concat(parts);
    }],
  ];
  const [what, make] = rng.pick(cases);
  return { raw: make(), what };
}

/**
 * The largest request bodies that decode to the most entries per byte: what a decoder's
 * per-series and per-label bookkeeping costs when every entry is as small as the wire allows.
 */
export function amplifiers(maxRaw: number): { what: string; raw: () => Buffer }[] {
  const fill = (unit: Buffer) => Buffer.alloc(Math.floor(maxRaw / unit.length) * unit.length, unit);
  const label = lenField(1, Buffer.concat([lenField(1, Buffer.from('a')), lenField(2, Buffer.from('b'))]));
  const sample = lenField(2, Buffer.concat([fixed64Field(1, 1), varintField(2, 1)]));
  const inOne = (unit: Buffer) => {
    const body = fill(unit).subarray(0, maxRaw - 16);
    return Buffer.concat([tag(1, WIRE.len), varint(body.length), body]);
  };
  return [
    { what: 'empty series (2 bytes each)', raw: () => fill(Buffer.from([0x0a, 0x00])) },
    { what: 'series of one label, no samples', raw: () => fill(lenField(1, label)) },
    { what: 'series of one sample, no labels', raw: () => fill(lenField(1, sample)) },
    { what: 'one series of empty labels', raw: () => inOne(Buffer.from([0x0a, 0x00])) },
    { what: 'one series of samples', raw: () => inOne(sample) },
  ];
}

// ---------------------------------------------------------------- snappy block format

/** A valid snappy block of `n` zero bytes (literal 1, then 64-byte copies at offset 1): ratio ~21. */
export function snappyZeros(n: number): Buffer {
  const out: Buffer[] = [varint(n), Buffer.from([0x00, 0x00])]; // literal of length 1: tag 0, byte 0
  let left = n - 1;
  const copy64 = Buffer.from([((64 - 1) << 2) | 2, 0x01, 0x00]);
  const full = Math.floor(left / 64);
  out.push(Buffer.alloc(full * 3, copy64));
  left -= full * 64;
  if (left >= 1) out.push(Buffer.from([((left - 1) << 2) | 2, 0x01, 0x00]));
  return Buffer.concat(out);
}

export function snappyBomb(rng: Rng, maxInsert: number): { body: Buffer; what: string } {
  const cases: [string, number, () => Buffer][] = [
    ['declared 4 GiB - 1, tiny body', 4, () => Buffer.concat([varint(0xffffffff), rng.bytes(rng.int(0, 64))])],
    ['declared just over the limit', 4, () => Buffer.concat([varint(maxInsert + 1), Buffer.from([0x00, 0x00])])],
    ['declared length varint 6 bytes', 2, () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00])],
    ['declared length over 32 bits', 2, () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f, 0x00])],
    ['declared at the limit, body far too short', 4, () => Buffer.concat([varint(maxInsert), rng.bytes(rng.int(1, 1000))])],
    ['copy reaching before the start', 3, () => Buffer.from([0x40, ((64 - 1) << 2) | 2, 0x10, 0x00])],
    ['copy with offset 0', 2, () => Buffer.from([0x40, 0x00, 0x00, ((63) << 2) | 2, 0x00, 0x00])],
    ['literal longer than the block', 3, () => Buffer.from([0x40, 0xf0, 0xff, 0xff, 0xff, 0x0f, 0x00])],
    ['output shorter than declared', 3, () => Buffer.concat([varint(1000), snappyZeros(500).subarray(varint(500).length)])],
    ['output longer than declared', 3, () => Buffer.concat([varint(100), snappyZeros(5000).subarray(varint(5000).length)])],
    ['zeros, ratio ~21, 1 MiB', 3, () => snappyZeros(1 << 20)],
    ['zeros, ratio ~21, at the limit', 1, () => snappyZeros(maxInsert)],
    ['zeros, ratio ~21, random size up to the limit', 1, () => snappyZeros(rng.int(1, maxInsert))],
  ];
  const total = cases.reduce((n, c) => n + c[1], 0);
  let r = rng.int(1, total);
  for (const [what, w, make] of cases) {
    r -= w;
    if (r <= 0) return { body: make(), what };
  }
  throw new Error('unreachable');
}

export function sprinkleBitFlips(rng: Rng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = rng.int(1, 16); i > 0 && out.length > 0; i--) out[rng.int(0, out.length - 1)]! ^= 1 << rng.int(0, 7);
  return out;
}

export { snappyCompress };

// ---------------------------------------------------------------- zstd frame format (RFC 8878)

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const BLOCK_MAX = 128 * 1024;

function blockHeader(last: boolean, type: number, size: number): Buffer {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.from([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff]);
}

/** A valid single-segment zstd frame with raw blocks and a 4-byte content size. */
export function zstdFrame(content: Buffer): Buffer {
  const fcs = Buffer.alloc(4);
  fcs.writeUInt32LE(content.length);
  const parts: Buffer[] = [ZSTD_MAGIC, Buffer.from([0xa0]), fcs];
  if (content.length === 0) parts.push(blockHeader(true, 0, 0));
  for (let p = 0; p < content.length; p += BLOCK_MAX) {
    const chunk = content.subarray(p, p + BLOCK_MAX);
    parts.push(blockHeader(p + BLOCK_MAX >= content.length, 0, chunk.length), chunk);
  }
  return Buffer.concat(parts);
}

/** RLE blocks of zeros: 4 bytes per 128 KiB. `declared` null: no content size in the header. */
export function zstdRleBomb(total: number, declared: bigint | null): Buffer {
  const parts: Buffer[] = [ZSTD_MAGIC];
  if (declared === null) {
    parts.push(Buffer.from([0x00, 0x58])); // no FCS, not single segment; window 2^21
  } else {
    const fcs = Buffer.alloc(8);
    fcs.writeBigUInt64LE(declared);
    parts.push(Buffer.from([0xe0]), fcs); // 8-byte FCS, single segment
  }
  for (let left = total; left > 0; left -= BLOCK_MAX) parts.push(blockHeader(left <= BLOCK_MAX, 1, Math.min(left, BLOCK_MAX)), Buffer.from([0]));
  return Buffer.concat(parts);
}

export function zstdGarbage(rng: Rng, validRaw: Buffer, maxInsert: number): { body: Buffer; what: string } {
  const cases: [string, () => Buffer][] = [
    ['valid frame, bit flips', () => sprinkleBitFlips(rng, zstdFrame(validRaw))],
    ['valid frame, truncated', () => zstdFrame(validRaw).subarray(0, rng.int(0, zstdFrame(validRaw).length - 1))],
    ['wrong magic', () => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfe]), zstdFrame(validRaw).subarray(4)])],
    ['RLE bomb past the limit, size declared', () => zstdRleBomb(Math.min(maxInsert * 2, 64 << 20), BigInt(Math.min(maxInsert * 2, 64 << 20)))],
    ['RLE bomb past the limit, size not declared', () => zstdRleBomb(maxInsert + BLOCK_MAX, null)],
    ['declared 2^63, one block', () => zstdRleBomb(10, 2n ** 63n)],
    ['window descriptor 2^41', () => Buffer.concat([ZSTD_MAGIC, Buffer.from([0x00, 0xf8]), blockHeader(true, 1, 1000), Buffer.from([0])])],
    ['reserved block type 3', () => Buffer.concat([ZSTD_MAGIC, Buffer.from([0xa0]), Buffer.from([0, 1, 0, 0]), blockHeader(true, 3, 10), rng.bytes(10)])],
    ['block larger than 128 KiB', () => Buffer.concat([ZSTD_MAGIC, Buffer.from([0x00, 0x58]), blockHeader(true, 0, (1 << 21) - 1), rng.bytes(1000)])],
    ['skippable frame only', () => Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18]), Buffer.from([16, 0, 0, 0]), rng.bytes(16)])],
    ['compressed block of random bytes', () => Buffer.concat([ZSTD_MAGIC, Buffer.from([0xa0]), Buffer.from([0, 0, 1, 0]), blockHeader(true, 2, 200), rng.bytes(200)])],
    ['two frames concatenated', () => Buffer.concat([zstdFrame(validRaw), zstdFrame(validRaw)])],
    ['random bytes', () => rng.bytes(rng.int(0, 4096))],
  ];
  const [what, make] = rng.pick(cases);
  return { body: make(), what };
}

// ---------------------------------------------------------------- remote-write 2.0

export const PRW2_CONTENT_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';

/** io.prometheus.write.v2.Request: symbols (4), timeseries (5) with label_refs (1, packed) and samples (2). */
export function prw2(rng: Rng, series = rng.int(1, 20)): Buffer {
  const symbols = ['', '__name__', 'job', 'chaos', 'instance'];
  const sym = (s: string) => {
    let i = symbols.indexOf(s);
    if (i < 0) i = symbols.push(s) - 1;
    return i;
  };
  const ts: Buffer[] = [];
  for (let i = 0; i < series; i++) {
    const refs = [sym('__name__'), sym(`chaos_v2_${rng.int(0, 9)}`), sym('job'), sym('chaos'), sym('instance'), sym(`h${i}`)];
    const packed = Buffer.concat(refs.map((r) => varint(r)));
    const sample = Buffer.concat([fixed64Field(1, rng.next()), varintField(2, Date.now())]);
    ts.push(lenField(5, Buffer.concat([lenField(1, packed), lenField(2, sample)])));
  }
  return Buffer.concat([...symbols.map((s) => lenField(4, Buffer.from(s))), ...ts]);
}

export function prw2Garbage(rng: Rng): { raw: Buffer; what: string } {
  const sample = Buffer.concat([fixed64Field(1, 1), varintField(2, Date.now())]);
  const series = (refs: number[]) => lenField(5, Buffer.concat([lenField(1, Buffer.concat(refs.map((r) => varint(r)))), lenField(2, sample)]));
  const cases: [string, () => Buffer][] = [
    ['label ref out of range', () => Buffer.concat([lenField(4, Buffer.alloc(0)), lenField(4, Buffer.from('__name__')), series([1, 99_999])])],
    ['odd number of label refs', () => Buffer.concat([lenField(4, Buffer.alloc(0)), lenField(4, Buffer.from('__name__')), lenField(4, Buffer.from('m')), series([1, 2, 1])])],
    ['first symbol not empty', () => Buffer.concat([lenField(4, Buffer.from('x')), lenField(4, Buffer.from('__name__')), series([1, 0])])],
    ['no symbols at all', () => series([1, 2])],
    ['label ref 2^32', () => Buffer.concat([lenField(4, Buffer.alloc(0)), series([2 ** 32, 0])])],
    ['a v1 body sent as v2', () => prw1(rng)],
    ['v2 body with bit flips', () => sprinkleBitFlips(rng, prw2(rng))],
    ['v2 body truncated', () => {
      const b = prw2(rng);
      return b.subarray(0, rng.int(0, b.length - 1));
    }],
  ];
  const [what, make] = rng.pick(cases);
  return { raw: make(), what };
}
