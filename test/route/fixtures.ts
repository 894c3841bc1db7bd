// Test-local helpers for src/route: a minimal remote-write protobuf encoder, a minimal
// walker that builds a WriteRequestView (stand-in for the real decoder, which the route
// code does not depend on), a PMM-like series generator and a BigInt XXH64 reference.
// Not used by src/.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
  type WriteRequestView,
} from '../../src/protocol/prw/types.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
import { sharedDir } from '../helpers/shared-dir.js';
export { sharedDir };

export type Bytes = string | Uint8Array;
export interface TestSeries {
  labels: [Bytes, Bytes][];
  samples: [ts: number, value: number][];
}

const toBytes = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b));

function varint(n: number, out: number[]): void {
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

function lenField(tag: number, body: Buffer): Buffer {
  const head: number[] = [tag];
  varint(body.length, head);
  return Buffer.concat([Buffer.from(head), body]);
}

export function encodeTimeSeries(s: TestSeries): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of s.labels) {
    const nb = toBytes(n);
    const vb = toBytes(v);
    const lab: Buffer[] = [];
    if (nb.length) lab.push(lenField(0x0a, nb));
    if (vb.length) lab.push(lenField(0x12, vb));
    parts.push(lenField(0x0a, Buffer.concat(lab)));
  }
  for (const [ts, val] of s.samples) {
    const b = Buffer.alloc(9);
    b[0] = 0x09; // value: fixed64
    b.writeDoubleLE(val, 1);
    const t: number[] = [0x10];
    const big = BigInt.asUintN(64, BigInt(ts));
    let x = big;
    while (x > 0x7fn) {
      t.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    t.push(Number(x));
    parts.push(lenField(0x12, Buffer.concat([b, Buffer.from(t)])));
  }
  return Buffer.concat(parts);
}

/** WriteRequest bytes: each series as field 1. */
export function encodeWriteRequest(series: TestSeries[]): Buffer {
  return Buffer.concat(series.map((s) => lenField(0x0a, encodeTimeSeries(s))));
}

function readVarint(buf: Uint8Array, p: { o: number }): number {
  let r = 0;
  let mul = 1;
  for (;;) {
    const b = buf[p.o++];
    r += (b & 0x7f) * mul;
    if (b < 0x80) return r;
    mul *= 128;
  }
}

function skipField(buf: Uint8Array, wt: number, p: { o: number }): void {
  if (wt === 0) readVarint(buf, p);
  else if (wt === 1) p.o += 8;
  else if (wt === 5) p.o += 4;
  else if (wt === 2) p.o += readVarint(buf, p);
  else throw new Error(`wire type ${wt}`);
}

/** A small WriteRequest walker producing the same view contract as the real decoder. */
export function scanWriteRequest(buf: Buffer): WriteRequestView {
  const series: number[] = [];
  const labels: number[] = [];
  let samples = 0;
  let minTs = Infinity;
  let maxTs = -Infinity;
  const p = { o: 0 };
  while (p.o < buf.length) {
    const start = p.o;
    const tag = readVarint(buf, p);
    if (tag !== 0x0a) {
      skipField(buf, tag & 7, p);
      continue;
    }
    const len = readVarint(buf, p);
    const end = p.o + len;
    const labelFirst = labels.length / LABEL_STRIDE;
    let nSamples = 0;
    while (p.o < end) {
      const t = readVarint(buf, p);
      const l = readVarint(buf, p);
      const fe = p.o + l;
      if (t === 0x0a) {
        let ns = p.o, ne = p.o, vs = p.o, ve = p.o;
        while (p.o < fe) {
          const lt = readVarint(buf, p);
          const ll = readVarint(buf, p);
          if (lt === 0x0a) (ns = p.o), (ne = p.o + ll);
          else if (lt === 0x12) (vs = p.o), (ve = p.o + ll);
          p.o += ll;
        }
        labels.push(ns, ne, vs, ve);
      } else if (t === 0x12) {
        nSamples++;
        while (p.o < fe) {
          const st = readVarint(buf, p);
          if (st === 0x10) {
            const ts = readVarint(buf, p);
            if (ts < minTs) minTs = ts;
            if (ts > maxTs) maxTs = ts;
          } else skipField(buf, st & 7, p);
        }
      }
      p.o = fe;
    }
    samples += nSamples;
    const rec = new Array<number>(SERIES_STRIDE).fill(0);
    rec[S_START] = start;
    rec[S_END] = end;
    rec[S_LABEL_FIRST] = labelFirst;
    rec[S_LABEL_COUNT] = labels.length / LABEL_STRIDE - labelFirst;
    rec[S_SAMPLE_COUNT] = nSamples;
    rec[S_HISTOGRAM_COUNT] = 0;
    rec[S_DROP] = 0;
    series.push(...rec);
  }
  return {
    buf,
    seriesCount: series.length / SERIES_STRIDE,
    series: Int32Array.from(series),
    labels: Int32Array.from(labels),
    sampleCount: samples,
    histogramCount: 0,
    droppedSeries: new Uint32Array(4),
    droppedSamples: 0,
    minTimestamp: samples ? minTs : 0,
    maxTimestamp: samples ? maxTs : 0,
    metadataCount: 0,
  };
}

/** Labels of series i of a view as [name, value] byte pairs. */
export function viewLabels(view: WriteRequestView, i: number): [Buffer, Buffer][] {
  const first = view.series[i * SERIES_STRIDE + S_LABEL_FIRST];
  const count = view.series[i * SERIES_STRIDE + S_LABEL_COUNT];
  const out: [Buffer, Buffer][] = [];
  for (let j = first; j < first + count; j++) {
    const b = j * LABEL_STRIDE;
    out.push([
      view.buf.subarray(view.labels[b + L_NAME_START], view.labels[b + L_NAME_END]),
      view.buf.subarray(view.labels[b + L_VALUE_START], view.labels[b + L_VALUE_END]),
    ]);
  }
  return out;
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuid(r: () => number): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += Math.floor(r() * 16).toString(16);
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** PMM-like node_exporter/mysqld_exporter series: ~12 labels, ~480 bytes each. */
export function pmmSeries(n: number, seed = 1, ts = 1700000000000): TestSeries[] {
  const r = rng(seed);
  const names = ['node_cpu_seconds_total', 'node_memory_MemFree_bytes', 'mysql_global_status_threads_connected', 'node_disk_read_bytes_total', 'mysql_info_schema_table_rows', 'node_network_receive_bytes_total'];
  const out: TestSeries[] = [];
  const hosts = Array.from({ length: 60 }, () => ({ agent: uuid(r), node: uuid(r), machine: uuid(r), svc: uuid(r) }));
  for (let i = 0; i < n; i++) {
    const h = hosts[i % hosts.length];
    const hi = i % hosts.length;
    const labels: [Bytes, Bytes][] = [
      ['__name__', names[Math.floor(r() * names.length)]],
      ['agent_id', `/agent_id/${h.agent}`],
      ['agent_type', 'node_exporter'],
      ['cluster', `prod-cluster-${hi % 4}`],
      ['cpu', String(i % 16)],
      ['environment', 'production'],
      ['instance', `db-${hi}.prod:9100`],
      ['job', `node_exporter_agent_id_${h.agent}_hr-5s`],
      ['machine_id', `/machine_id/${h.machine}`],
      ['mode', ['idle', 'user', 'system', 'iowait'][i % 4]],
      ['node_id', `/node_id/${h.node}`],
      ['node_name', `db-${hi}.prod`],
      ['service_id', `/service_id/${h.svc}`],
    ];
    out.push({ labels, samples: [[ts + (i % 7), r() * 1000]] });
  }
  return out;
}

// ---- BigInt reference XXH64 (slow, obviously-correct; tests only) ----
const M64 = (1n << 64n) - 1n;
const Q1 = 0x9e3779b185ebca87n;
const Q2 = 0xc2b2ae3d27d4eb4fn;
const Q3 = 0x165667b19e3779f9n;
const Q4 = 0x85ebca77c2b2ae63n;
const Q5 = 0x27d4eb2f165667c5n;
const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64;
const round = (acc: bigint, input: bigint): bigint => (rotl((acc + input * Q2) & M64, 31n) * Q1) & M64;
const merge = (acc: bigint, v: bigint): bigint => (((acc ^ round(0n, v)) * Q1) + Q4) & M64;
const rd64 = (b: Uint8Array, p: number): bigint => {
  let x = 0n;
  for (let i = 7; i >= 0; i--) x = (x << 8n) | BigInt(b[p + i]);
  return x;
};
const rd32 = (b: Uint8Array, p: number): bigint => BigInt((b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0);

export function xxh64Ref(b: Uint8Array, seed = 0n): bigint {
  const len = b.length;
  let p = 0;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + Q1 + Q2) & M64;
    let v2 = (seed + Q2) & M64;
    let v3 = seed;
    let v4 = (seed - Q1) & M64;
    for (; p + 32 <= len; p += 32) {
      v1 = round(v1, rd64(b, p));
      v2 = round(v2, rd64(b, p + 8));
      v3 = round(v3, rd64(b, p + 16));
      v4 = round(v4, rd64(b, p + 24));
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
    h = merge(h, v1);
    h = merge(h, v2);
    h = merge(h, v3);
    h = merge(h, v4);
  } else {
    h = (seed + Q5) & M64;
  }
  h = (h + BigInt(len)) & M64;
  for (; p + 8 <= len; p += 8) h = ((rotl(h ^ round(0n, rd64(b, p)), 27n) * Q1) + Q4) & M64;
  if (p + 4 <= len) {
    h = ((rotl(h ^ ((rd32(b, p) * Q1) & M64), 23n) * Q2) + Q3) & M64;
    p += 4;
  }
  for (; p < len; p++) h = (rotl(h ^ ((BigInt(b[p]) * Q5) & M64), 11n) * Q1) & M64;
  h ^= h >> 33n;
  h = (h * Q2) & M64;
  h ^= h >> 29n;
  h = (h * Q3) & M64;
  h ^= h >> 32n;
  return h;
}

/** Reference rendezvous mix in BigInt. */
export function mixRef(x: bigint): bigint {
  x ^= x >> 12n;
  x = (x ^ (x << 25n)) & M64;
  x ^= x >> 27n;
  return (x * 2685821657736338717n) & M64;
}

export const hex64 = (hi: number, lo: number): string => (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
export const big64 = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

// ---- vminsert -> vmstorage captures (shared/vmstorage/vectors, PROTOCOL.md §2-§5) ----

export interface CapturedRow {
  accountID: number;
  projectID: number;
  /** Labels as on the wire: the metric name has an empty name. */
  labels: [Buffer, Buffer][];
  /** The MetricNameRaw bytes. */
  metricNameRaw: Buffer;
}

/** Packets of a `*-c2s.bin` capture (uncompressed mode): rows of each packet. */
export function readC2sPackets(bytes: Buffer): CapturedRow[][] {
  if (bytes.subarray(0, 11).toString('latin1') !== 'vminsert.02') throw new Error('not a vminsert.02 stream');
  if (bytes[11] !== 0) throw new Error('compressed stream not supported here');
  let o = 14; // hello(11) + isCompressed(1) + "ok"(2)
  const packets: CapturedRow[][] = [];
  while (o + 8 <= bytes.length) {
    const len = Number(bytes.readBigUInt64BE(o));
    o += 8;
    const end = o + len;
    const rows: CapturedRow[] = [];
    while (o < end) {
      const p = { o };
      const mnLen = readVarint(bytes, p);
      o = p.o;
      const mn = bytes.subarray(o, o + mnLen);
      o += mnLen + 16; // timestamp + value bits
      const labels: [Buffer, Buffer][] = [];
      let q = 8;
      while (q < mn.length) {
        const nl = mn.readUInt16BE(q);
        const n = mn.subarray(q + 2, q + 2 + nl);
        q += 2 + nl;
        const vl = mn.readUInt16BE(q);
        const v = mn.subarray(q + 2, q + 2 + vl);
        q += 2 + vl;
        labels.push([n, v]);
      }
      rows.push({ accountID: mn.readUInt32BE(0), projectID: mn.readUInt32BE(4), labels, metricNameRaw: mn });
    }
    packets.push(rows);
  }
  return packets;
}

/** The remote-write labels a captured row came from: the empty name back to `__name__`. */
export function remoteWriteLabels(row: CapturedRow): [Bytes, Bytes][] {
  return row.labels.map(([n, v]) => [n.length === 0 ? '__name__' : n, v]);
}
