// Shared by the vmstorage protocol tests: where the captured vectors live, how to split a
// capture into handshake and packets, and a small BigInt reference of the node choice
// (XXH64 + rendezvous, PROTOCOL.md §6) so the routed vectors can be rebuilt from their
// input series. The reference is written for clarity, not speed; src/route is the real one.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrwDecoder } from '../../../src/protocol/prw/decode.js';
import { encodeWriteRequest, type SeriesInput } from '../../../src/protocol/prw/encode.js';
import type { WriteRequestView } from '../../../src/protocol/prw/types.js';
import { MetricRowWriter } from '../../../src/protocol/vmstorage/metric-row.js';
import { PACKET_HEADER_LEN, readPacketHeader } from '../../../src/protocol/vmstorage/packet.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
import { sharedDir } from '../../helpers/shared-dir.js';
export { sharedDir };
export const vectorsDir = path.join(sharedDir, 'vmstorage', 'vectors');

export function vector(name: string): Buffer {
  return fs.readFileSync(path.join(vectorsDir, name));
}

export const HANDSHAKE_C2S_LEN = 14; // "vminsert.02" + flag + "ok"
export const HANDSHAKE_S2C_LEN = 5; // "ok" "ok" + server flag

/** The packets (header + payload, as whole buffers) after the client handshake of a plain capture. */
export function splitPackets(c2s: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let p = HANDSHAKE_C2S_LEN;
  while (p < c2s.length) {
    const len = readPacketHeader(c2s, p);
    const end = p + PACKET_HEADER_LEN + len;
    if (end > c2s.length) throw new Error(`packet at ${p} runs past the capture`);
    out.push(c2s.subarray(p, end));
    p = end;
  }
  return out;
}

/** A remote-write request encoded then decoded: the view ingest would route. */
export function viewOf(series: readonly SeriesInput[]): WriteRequestView {
  const limits = { maxLabelsPerTimeseries: 1e9, maxLabelNameLen: 1e9, maxLabelValueLen: 1e9 };
  return new PrwDecoder(limits).decode(encodeWriteRequest(series));
}

/** Rows of the chosen series of a request, in the order given. */
export function rowsOf(series: readonly SeriesInput[], pick: readonly number[], tenant: readonly [number, number] = [0, 0]): Buffer {
  const view = viewOf(series);
  const w = new MetricRowWriter(256);
  for (const i of pick) w.appendSeries(view, i, tenant[0], tenant[1]);
  return w.finish();
}

// ---- The input series of the captures, as vectors/README.md describes them ----

export const TS = 1700000000000;

export const UP: SeriesInput = {
  labels: [
    ['__name__', 'up'],
    ['job', 'node'],
    ['instance', 'a:9100'],
  ],
  samples: [[1, TS]],
};
export const REQ2: SeriesInput[] = [
  {
    labels: [
      ['job', 'api'],
      ['__name__', 'http_requests_total'],
      ['code', '200'],
      ['empty', ''],
    ],
    samples: [
      [12345.0, TS],
      [12400.5, 1700000015000],
    ],
  },
  {
    labels: [
      ['__name__', 'temp_c'],
      ['city', 'Zürich'],
    ],
    samples: [[-3.25, TS]],
  },
  {
    labels: [
      ['__name__', 'weird'],
      [Buffer.from('a\x00b', 'latin1'), Buffer.from('x\x01y\x02z', 'latin1')],
    ],
    samples: [[Infinity, 1699999999999]],
  },
];

export function numbered(name: string, n: number): SeriesInput[] {
  return Array.from({ length: n }, (_, i) => ({
    labels: [
      ['__name__', name],
      ['job', 'node'],
      ['instance', `host${i}:9100`],
    ] as const,
    samples: [[i, TS]] as const,
  }));
}

// ---- Reference node choice, from PROTOCOL.md §6 ----

const M64 = (1n << 64n) - 1n;
const P1 = 11400714785074694791n;
const P2 = 14029467366897019727n;
const P3 = 1609587929392839161n;
const P4 = 9650029242287828579n;
const P5 = 2870177450012600261n;

const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M64;
const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M64, 31n) * P1) & M64;
const merge = (acc: bigint, v: bigint) => (((acc ^ round(0n, v)) * P1) + P4) & M64;

export function xxh64(data: Uint8Array, seed = 0n): bigint {
  const b = Buffer.from(data.buffer, data.byteOffset, data.length);
  const len = b.length;
  let p = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & M64;
    let v2 = (seed + P2) & M64;
    let v3 = seed;
    let v4 = (seed - P1) & M64;
    for (; p + 32 <= len; p += 32) {
      v1 = round(v1, b.readBigUInt64LE(p));
      v2 = round(v2, b.readBigUInt64LE(p + 8));
      v3 = round(v3, b.readBigUInt64LE(p + 16));
      v4 = round(v4, b.readBigUInt64LE(p + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = (seed + P5) & M64;
  }
  h = (h + BigInt(len)) & M64;
  for (; p + 8 <= len; p += 8) h = ((rotl(h ^ round(0n, b.readBigUInt64LE(p)), 27n) * P1) + P4) & M64;
  if (p + 4 <= len) {
    h = ((rotl(h ^ ((BigInt(b.readUInt32LE(p)) * P1) & M64), 23n) * P2) + P3) & M64;
    p += 4;
  }
  for (; p < len; p++) h = (rotl(h ^ ((BigInt(b[p]!) * P5) & M64), 11n) * P1) & M64;
  h ^= h >> 33n;
  h = (h * P2) & M64;
  h ^= h >> 29n;
  h = (h * P3) & M64;
  h ^= h >> 32n;
  return h;
}

function mix(x: bigint): bigint {
  x ^= x >> 12n;
  x ^= (x << 25n) & M64;
  x ^= x >> 27n;
  return (x * 2685821657736338717n) & M64;
}

/** Index of the node with the highest score among those not excluded (-1 if none). */
export function rendezvous(nodes: readonly string[], h: bigint, exclude: ReadonlySet<number> = new Set()): number {
  if (nodes.length === 1) return exclude.has(0) ? -1 : 0;
  let best = -1;
  let bestScore = -1n;
  nodes.forEach((n, i) => {
    if (exclude.has(i)) return;
    const s = mix(xxh64(Buffer.from(n, 'utf8')) ^ h);
    if (s > bestScore) {
      best = i;
      bestScore = s;
    }
  });
  return best;
}

/**
 * The routing key of PROTOCOL.md §6.1: tenant, then the kept labels (empty values dropped)
 * with u16 lengths. 'remote-write' hashes the literal `__name__`, 'import' the empty name.
 */
export function routingKey(labels: readonly (readonly [string, string])[], rule: 'remote-write' | 'import', tenant: readonly [number, number] = [0, 0]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(8)];
  parts[0]!.writeUInt32BE(tenant[0], 0);
  parts[0]!.writeUInt32BE(tenant[1], 4);
  for (const [n, v] of labels) {
    if (v === '') continue;
    const name = Buffer.from(rule === 'import' && n === '__name__' ? '' : n, 'utf8');
    const value = Buffer.from(v, 'utf8');
    const hdr = Buffer.alloc(2);
    hdr.writeUInt16BE(name.length);
    const vh = Buffer.alloc(2);
    vh.writeUInt16BE(value.length);
    parts.push(hdr, name, vh, value);
  }
  return Buffer.concat(parts);
}
