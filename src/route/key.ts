// The routing key of one series (shared/vmstorage/PROTOCOL.md §6.1) and its XXH64.
//
//   key := u32 accountID || u32 projectID ||
//          for each label with a non-empty value, in request order:
//              u16 len(name) || name || u16 len(value) || value        (big-endian)
//
// Built from the byte ranges of a decoded WriteRequestView, then hashed: no strings, no
// per-series allocation. The label order is the request order (vminsert keeps it, and the
// hash depends on it). Two implementations with identical results:
// - wasm (default when xxhash-wasm loads): the whole request in one call, see wasm.ts;
// - TS: the key gathered into a reused scratch buffer and hashed with xxh64.ts.

import { endianness } from 'node:os';
import {
  LABEL_STRIDE,
  L_NAME_END,
  L_NAME_START,
  L_VALUE_END,
  L_VALUE_START,
  SERIES_STRIDE,
  S_DROP,
  S_END,
  S_LABEL_COUNT,
  S_LABEL_FIRST,
  S_START,
  type WriteRequestView,
} from '../protocol/prw/types.js';
import { instantiateWasmKeyHash, loadWasmKeyHash, XXHASH_WASM_VERSION, type WasmKeyHashInstance } from './wasm.js';
import { HASH_HI, HASH_LO, xxh64View } from './xxh64.js';

/**
 * How the metric-name label enters the key.
 * - 'remote-write': with its literal name `__name__` (what vminsert does for remote write).
 * - 'import': with an empty name (vminsert's /api/v1/import, CSV, Graphite, ... paths
 *   build MetricNameRaw first, so they hash the empty name; PROTOCOL.md §6.1 "Quirk").
 */
export type KeyRule = 'remote-write' | 'import';

/** Largest name or value a u16 length can describe. */
export const MAX_KEY_FIELD_LEN = 0xffff;

/** Entry offsets in the table returned by SeriesKeyHasher.hashAll(): 2 entries per series. */
export const T_LO = 0;
export const T_HI = 1;

export interface SeriesKeyHasherOptions {
  /** 'auto' (default): wasm when xxhash-wasm loads and passes its self-test, else TS. */
  backend?: 'auto' | 'wasm' | 'ts';
}

// wasm memory layout per hashAll() call (byte offsets); see src/route/wasm.ts
const W_SER = 64;
// Slack after the request copy and the key area: 8-byte word copies may read or write
// up to 7 bytes past a field.
const W_SLACK = 32;

/**
 * Builds and hashes routing keys. One instance per pipeline thread: it owns a scratch
 * buffer (and, on the wasm backend, a wasm memory that grows to about the largest
 * request seen plus its tables, and is kept for reuse).
 */
export class SeriesKeyHasher {
  /** Scratch holding the last key built by build(); bytes [0, length). Replaced when it grows. */
  get key(): Uint8Array {
    return this.keyBytes;
  }
  /** High and low 32 bits of the last hash(). */
  hi = 0;
  lo = 0;
  /** Which implementation hashAll() uses. */
  readonly backend: 'wasm' | 'ts';
  private readonly rule: KeyRule;
  private readonly out = new Uint32Array(2);
  private keyBytes: Uint8Array;
  private keyView: DataView;
  private srcBuf: Buffer | undefined;
  private srcView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private table = new Int32Array(0);
  private readonly wasm: WasmKeyHashInstance | undefined;
  private wasmBuffer: ArrayBuffer | undefined;
  private wasmU8 = new Uint8Array(0);
  private wasmI32 = new Int32Array(0);

  constructor(rule: KeyRule = 'remote-write', options: SeriesKeyHasherOptions = {}) {
    this.rule = rule;
    this.keyBytes = new Uint8Array(4096);
    this.keyView = new DataView(this.keyBytes.buffer);
    const want = options.backend ?? 'auto';
    // The wasm tables are read as little-endian i64 through an Int32Array.
    const mods = want !== 'ts' && endianness() === 'LE' ? loadWasmKeyHash() : undefined;
    if (want === 'wasm' && !mods) throw new Error('wasm key hashing unavailable (xxhash-wasm ' + XXHASH_WASM_VERSION + ' not loadable)');
    this.wasm = mods ? instantiateWasmKeyHash(mods) : undefined;
    this.backend = this.wasm ? 'wasm' : 'ts';
  }

  /**
   * Hashes the routing key of every series of `view`. Returns a table with the hash of
   * series i at [2*i + T_HI] and [2*i + T_LO] (int32 bit patterns), reused: valid until
   * the next hashAll() call. Dropped series (S_DROP != 0) are not keyed; their entries
   * are meaningless.
   */
  hashAll(view: WriteRequestView, accountID: number, projectID: number): Int32Array {
    return this.wasm ? this.hashAllWasm(this.wasm, view, accountID, projectID) : this.hashAllTs(view, accountID, projectID);
  }

  private hashAllTs(view: WriteRequestView, accountID: number, projectID: number): Int32Array {
    const n = view.seriesCount;
    if (this.table.length < 2 * n) this.table = new Int32Array(Math.max(2 * n, 2 * this.table.length));
    const t = this.table;
    const out = this.out;
    const series = view.series;
    for (let i = 0; i < n; i++) {
      if (series[i * SERIES_STRIDE + S_DROP] !== 0) {
        t[2 * i + T_HI] = 0;
        t[2 * i + T_LO] = 0;
        continue;
      }
      const len = this.build(view, i, accountID, projectID);
      xxh64View(this.keyView, 0, len, out);
      t[2 * i + T_HI] = out[HASH_HI];
      t[2 * i + T_LO] = out[HASH_LO];
    }
    return t;
  }

  private hashAllWasm(w: WasmKeyHashInstance, view: WriteRequestView, accountID: number, projectID: number): Int32Array {
    const n = view.seriesCount;
    const series = view.series;
    const buf = view.buf;
    // Labels in use and the longest series: the typed arrays of a view may be longer than
    // what this request filled. A key is never longer than 8 + its TimeSeries bytes (each
    // label costs 4 bytes of length in the key and at least 4 bytes of tags in protobuf).
    let labelsUsed = 0;
    let maxSeries = 0;
    for (let i = 0, b = 0; i < n; i++, b += SERIES_STRIDE) {
      if (series[b + S_DROP] !== 0) continue; // hashAll skips their labels too
      const e = series[b + S_LABEL_FIRST] + series[b + S_LABEL_COUNT];
      if (e > labelsUsed) labelsUsed = e;
      const len = series[b + S_END] - series[b + S_START];
      if (len > maxSeries) maxSeries = len;
    }
    const ser = W_SER;
    const lab = align8(ser + n * SERIES_STRIDE * 4);
    const out = align8(lab + labelsUsed * LABEL_STRIDE * 4);
    const src = out + n * 8;
    const key = align8(src + buf.length + W_SLACK);
    const end = key + 8 + maxSeries + W_SLACK;

    const memory = w.memory;
    if (memory.buffer.byteLength < end) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
    if (this.wasmBuffer !== memory.buffer) {
      // growing detaches the old ArrayBuffer: rebuild the views
      this.wasmBuffer = memory.buffer;
      this.wasmU8 = new Uint8Array(memory.buffer);
      this.wasmI32 = new Int32Array(memory.buffer);
    }
    const u8 = this.wasmU8;
    const i32 = this.wasmI32;
    i32.set(series.subarray(0, n * SERIES_STRIDE), ser >> 2);
    i32.set(view.labels.subarray(0, labelsUsed * LABEL_STRIDE), lab >> 2);
    u8.set(buf, src);
    u8[key] = accountID >>> 24;
    u8[key + 1] = accountID >>> 16;
    u8[key + 2] = accountID >>> 8;
    u8[key + 3] = accountID;
    u8[key + 4] = projectID >>> 24;
    u8[key + 5] = projectID >>> 16;
    u8[key + 6] = projectID >>> 8;
    u8[key + 7] = projectID;
    w.hashAll(ser, n, lab, src, key, out, this.rule === 'import' ? 1 : 0);
    // i64 little-endian: low word first, which is the T_LO = 0 / T_HI = 1 layout.
    return i32.subarray(out >> 2, (out >> 2) + 2 * n);
  }

  /** Writes the key of series `s` of `view` into `this.key`; returns its length. */
  build(view: WriteRequestView, s: number, accountID: number, projectID: number): number {
    const series = view.series;
    const labels = view.labels;
    const src = view.buf;
    const base = s * SERIES_STRIDE;
    const first = series[base + S_LABEL_FIRST];
    const count = series[base + S_LABEL_COUNT];
    const importRule = this.rule === 'import';
    if (this.srcBuf !== src) {
      // one DataView per request, not per series
      this.srcBuf = src;
      this.srcView = new DataView(src.buffer, src.byteOffset, src.byteLength);
    }
    const sv = this.srcView;

    // A key is never longer than 8 + the series' TimeSeries bytes: each label costs 4
    // bytes of lengths in the key and at least 4 bytes of tags and lengths in protobuf.
    // So one comparison sizes the scratch; growing is rare and the scratch is kept.
    const need = 8 + series[base + S_END] - series[base + S_START];
    let k = this.keyBytes;
    if (need > k.length) {
      k = this.keyBytes = new Uint8Array(Math.max(need, k.length * 2));
      this.keyView = new DataView(k.buffer);
    }
    const kv = this.keyView;

    k[0] = accountID >>> 24;
    k[1] = accountID >>> 16;
    k[2] = accountID >>> 8;
    k[3] = accountID;
    k[4] = projectID >>> 24;
    k[5] = projectID >>> 16;
    k[6] = projectID >>> 8;
    k[7] = projectID;
    let o = 8;
    for (let j = first * LABEL_STRIDE, e = (first + count) * LABEL_STRIDE; j < e; j += LABEL_STRIDE) {
      const vs = labels[j + L_VALUE_START];
      let ve = labels[j + L_VALUE_END];
      if (ve === vs) continue; // §5.2 step 1: labels with an empty value do not exist
      const ns = labels[j + L_NAME_START];
      let ne = labels[j + L_NAME_END];
      // Guard: the decoder's limits keep names and values far below 64 KiB; should a
      // longer one slip through, hash its first 65535 bytes so the key stays well formed.
      if (ne - ns > MAX_KEY_FIELD_LEN) ne = ns + MAX_KEY_FIELD_LEN;
      if (ve - vs > MAX_KEY_FIELD_LEN) ve = vs + MAX_KEY_FIELD_LEN;
      if (importRule && ne - ns === 8 && isDunderName(src, ns)) ne = ns;

      // Word copies through DataViews (one unaligned load/store per 4 bytes once
      // TurboFan inlines them); Buffer#copy costs ~80 ns per call, more than a label.
      const nl = ne - ns;
      kv.setUint16(o, nl);
      o += 2;
      let i = ns;
      for (; i + 4 <= ne; i += 4, o += 4) kv.setInt32(o, sv.getInt32(i, true), true);
      for (; i < ne; i++) k[o++] = src[i];
      const vl = ve - vs;
      kv.setUint16(o, vl);
      o += 2;
      i = vs;
      for (; i + 4 <= ve; i += 4, o += 4) kv.setInt32(o, sv.getInt32(i, true), true);
      for (; i < ve; i++) k[o++] = src[i];
    }
    return o;
  }

  /** Hashes the key of series `s` alone (TS path); the result is in `this.hi` / `this.lo`. */
  hash(view: WriteRequestView, s: number, accountID: number, projectID: number): void {
    const n = this.build(view, s, accountID, projectID);
    const out = this.out;
    xxh64View(this.keyView, 0, n, out);
    this.hi = out[HASH_HI];
    this.lo = out[HASH_LO];
  }
}

const align8 = (n: number): number => (n + 7) & ~7;

/** True when buf[at, at+8) is "__name__". */
function isDunderName(buf: Uint8Array, at: number): boolean {
  return (
    buf[at] === 0x5f &&
    buf[at + 1] === 0x5f &&
    buf[at + 2] === 0x6e &&
    buf[at + 3] === 0x61 &&
    buf[at + 4] === 0x6d &&
    buf[at + 5] === 0x65 &&
    buf[at + 6] === 0x5f &&
    buf[at + 7] === 0x5f
  );
}
