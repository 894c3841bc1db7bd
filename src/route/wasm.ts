// Batched routing-key hashing in WebAssembly.
//
// Why: measured on Node 20 (bench/hash.ts), building a ~500-byte key in JS costs ~400 ns
// and a 32-bit-limb XXH64 in TS ~850 ns per series, while XXH64 in wasm takes ~60 ns.
// Calling wasm once per series also pays a BigInt per i64 result (~90 ns to split).
// So the whole request goes to wasm in one call:
//
//   1. JS copies the request bytes, the series table and the label table of the
//      WriteRequestView into wasm memory (memcpy speed, ~30 µs per MB);
//   2. `hashAll` (below, assembled here by hand) builds each series' routing key in a
//      scratch area with 8-byte word copies and calls XXH64 for it;
//   3. the 64-bit results land in an output table that JS reads through an Int32Array.
//
// XXH64 itself is the function exported by the wasm module embedded in the `xxhash-wasm`
// package (pinned version). That package only exposes a copying, BigInt-returning API, so
// the module bytes are caught on their way into WebAssembly.instantiate and instantiated
// here with our own memory layout. `hashAll` imports that function and that memory; the
// call between the two modules is a direct wasm-to-wasm call.
//
// If the package is missing, changes shape, or fails the self-test, loadWasmKeyHash()
// returns undefined and the caller uses the pure-TS path (same results, slower).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  LABEL_STRIDE,
  L_NAME_END,
  L_NAME_START,
  L_VALUE_END,
  L_VALUE_START,
  SERIES_STRIDE,
  S_DROP,
  S_LABEL_COUNT,
  S_LABEL_FIRST,
} from '../protocol/prw/types.js';

// ---- A minimal wasm binary writer (just what hashAll needs) ----

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb64 = (v: bigint): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// types and opcodes (WebAssembly core spec, binary format)
const I32 = 0x7f;
const I64 = 0x7e;
const VOID = 0x40;
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  select: 0x1b,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  i32load: 0x28,
  i64load: 0x29,
  i64store: 0x37,
  i32store8: 0x3a,
  i32const: 0x41,
  i64const: 0x42,
  i32eqz: 0x45,
  i32eq: 0x46,
  i32ltu: 0x49,
  i32geu: 0x4f,
  i64eq: 0x51,
  i32add: 0x6a,
  i32sub: 0x6b,
  i32shl: 0x74,
  i32shru: 0x76,
} as const;
const i32c = (n: number): number[] => [OP.i32const, ...sleb64(BigInt(n | 0))];
/** memarg: alignment hint (log2) and constant offset */
const mem = (op: number, align: number, offset: number): number[] => [op, align, ...uleb(offset)];

// hashAll(ser, n, lab, src, key, out, rule) locals
const P_SER = 0; // series table pointer: SERIES_STRIDE i32 per series (advanced by the loop)
const P_N = 1; // series left
const P_LAB = 2; // label table pointer: LABEL_STRIDE i32 per label
const P_SRC = 3; // request bytes; label offsets are relative to it
const P_KEY = 4; // key scratch; tenant bytes already at key[0..8)
const P_OUT = 5; // output pointer: one i64 per series (advanced by the loop)
const P_RULE = 6; // 1: hash `__name__` with an empty name (import rule)
const L_L = 7; // current label entry
const L_LE = 8; // end of this series' label entries
const L_O = 9; // write position in the key
const L_S = 10; // copy source
const L_D = 11; // copy destination
const L_E = 12; // copy destination end
const L_NL = 13; // name length (clamped)
const L_VL = 14; // value length (clamped)

/** "__name__" read as a little-endian i64. */
const DUNDER_NAME_LE = 0x5f5f656d616e5f5fn;
const U16_MAX = 0xffff;

/**
 * Copies [s, s + (e - d)) to [d, e) in 8-byte words. It may write up to 7 bytes past `e`
 * and read up to 7 past the source end: the key area and the request copy both have
 * slack, and whatever lands past `e` is overwritten by the next field or never hashed.
 */
const copyWords = (): number[] => [
  OP.block, VOID,
  OP.loop, VOID,
  OP.get, L_D, OP.get, L_E, OP.i32geu, OP.brIf, 1,
  OP.get, L_D, OP.get, L_S, ...mem(OP.i64load, 0, 0), ...mem(OP.i64store, 0, 0),
  OP.get, L_D, ...i32c(8), OP.i32add, OP.set, L_D,
  OP.get, L_S, ...i32c(8), OP.i32add, OP.set, L_S,
  OP.br, 0,
  OP.end,
  OP.end,
];

/** key[o] = len >> 8; key[o+1] = len (u16 big-endian) */
const putU16 = (local: number): number[] => [
  OP.get, L_O, OP.get, local, ...i32c(8), OP.i32shru, ...mem(OP.i32store8, 0, 0),
  OP.get, L_O, OP.get, local, ...mem(OP.i32store8, 0, 1),
];

/** local = local < 65535 ? local : 65535 */
const clampU16 = (local: number): number[] => [
  OP.get, local, ...i32c(U16_MAX), OP.get, local, ...i32c(U16_MAX), OP.i32ltu, OP.select, OP.set, local,
];

// Offsets (bytes) of the fields used, from src/protocol/prw/types.ts:
// series: S_LABEL_FIRST = 2, S_LABEL_COUNT = 3, S_DROP = 6; labels: name start/end,
// value start/end. Checked against types.ts by hashAllModule().
const SER_FIRST = 8;
const SER_COUNT = 12;
const SER_DROP = 24;
const LAB_NS = 0;
const LAB_NE = 4;
const LAB_VS = 8;
const LAB_VE = 12;
const LABEL_BYTES = 16;

function hashAllBody(seriesBytes: number): number[] {
  const code = [
    OP.block, VOID, // $done
    OP.loop, VOID, // $series
    OP.get, P_N, OP.i32eqz, OP.brIf, 1,
    // l = lab + first * 16; le = l + count * 16
    OP.get, P_LAB, OP.get, P_SER, ...mem(OP.i32load, 2, SER_FIRST), ...i32c(4), OP.i32shl, OP.i32add, OP.tee, L_L,
    OP.get, P_SER, ...mem(OP.i32load, 2, SER_COUNT), ...i32c(4), OP.i32shl, OP.i32add, OP.set, L_LE,
    // a dropped series (S_DROP != 0) gets the hash of its tenant prefix alone: skip its labels
    OP.get, P_SER, ...mem(OP.i32load, 2, SER_DROP), OP.if, VOID, OP.get, L_LE, OP.set, L_L, OP.end,
    // o = key + 8 (tenant prefix)
    OP.get, P_KEY, ...i32c(8), OP.i32add, OP.set, L_O,
    OP.block, VOID, // $labelsDone
    OP.loop, VOID, // $labels
    OP.get, L_L, OP.get, L_LE, OP.i32geu, OP.brIf, 1,
    // vl = ve - vs; labels with an empty value are not part of the key
    OP.get, L_L, ...mem(OP.i32load, 2, LAB_VE), OP.get, L_L, ...mem(OP.i32load, 2, LAB_VS), OP.i32sub, OP.tee, L_VL,
    OP.if, VOID,
    ...clampU16(L_VL),
    OP.get, L_L, ...mem(OP.i32load, 2, LAB_NE), OP.get, L_L, ...mem(OP.i32load, 2, LAB_NS), OP.i32sub, OP.set, L_NL,
    ...clampU16(L_NL),
    OP.get, P_SRC, OP.get, L_L, ...mem(OP.i32load, 2, LAB_NS), OP.i32add, OP.set, L_S,
    // import rule: a name equal to "__name__" is hashed as the empty name
    OP.get, P_RULE,
    OP.if, VOID,
    OP.get, L_NL, ...i32c(8), OP.i32eq,
    OP.if, VOID,
    OP.get, L_S, ...mem(OP.i64load, 0, 0), OP.i64const, ...sleb64(DUNDER_NAME_LE), OP.i64eq,
    OP.if, VOID, ...i32c(0), OP.set, L_NL, OP.end,
    OP.end,
    OP.end,
    // u16 len(name) || name
    ...putU16(L_NL),
    OP.get, L_O, ...i32c(2), OP.i32add, OP.tee, L_D, OP.get, L_NL, OP.i32add, OP.tee, L_E, OP.set, L_O,
    ...copyWords(),
    // u16 len(value) || value
    ...putU16(L_VL),
    OP.get, P_SRC, OP.get, L_L, ...mem(OP.i32load, 2, LAB_VS), OP.i32add, OP.set, L_S,
    OP.get, L_O, ...i32c(2), OP.i32add, OP.tee, L_D, OP.get, L_VL, OP.i32add, OP.tee, L_E, OP.set, L_O,
    ...copyWords(),
    OP.end, // if vl
    OP.get, L_L, ...i32c(LABEL_BYTES), OP.i32add, OP.set, L_L,
    OP.br, 0,
    OP.end, // loop $labels
    OP.end, // block $labelsDone
    // *out = xxh64(key, o - key, 0)
    OP.get, P_OUT,
    OP.get, P_KEY, OP.get, L_O, OP.get, P_KEY, OP.i32sub, OP.i64const, 0, OP.call, 0,
    ...mem(OP.i64store, 3, 0),
    OP.get, P_OUT, ...i32c(8), OP.i32add, OP.set, P_OUT,
    OP.get, P_SER, ...i32c(seriesBytes), OP.i32add, OP.set, P_SER,
    OP.get, P_N, ...i32c(1), OP.i32sub, OP.set, P_N,
    OP.br, 0,
    OP.end, // loop $series
    OP.end, // block $done
    OP.end, // function
  ];
  const locals = [1, 8, I32]; // one group: 8 locals of i32 (L_L .. L_VL)
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

/** The module: imports env.mem and env.xxh64(ptr, len, seed) -> i64, exports hashAll. */
function hashAllModule(seriesStride: number): Uint8Array<ArrayBuffer> {
  if (
    SER_FIRST !== S_LABEL_FIRST * 4 || SER_COUNT !== S_LABEL_COUNT * 4 || SER_DROP !== S_DROP * 4 ||
    LAB_NS !== L_NAME_START * 4 || LAB_NE !== L_NAME_END * 4 || LAB_VS !== L_VALUE_START * 4 || LAB_VE !== L_VALUE_END * 4 ||
    LABEL_BYTES !== LABEL_STRIDE * 4
  ) {
    throw new Error('wasm key hashing: field offsets disagree with protocol/prw/types.ts');
  }
  const types = [
    2, // two function types
    0x60, 3, I32, I32, I64, 1, I64, // 0: xxh64
    0x60, 7, I32, I32, I32, I32, I32, I32, I32, 0, // 1: hashAll
  ];
  const imports = [
    2,
    ...name('env'), ...name('mem'), 0x02, 0x00, 1, // memory, min 1 page, no max
    ...name('env'), ...name('xxh64'), 0x00, 0, // function of type 0 (function index 0)
  ];
  const funcs = [1, 1]; // one function of type 1 (function index 1)
  const exports = [1, ...name('hashAll'), 0x00, 1];
  const code = [1, ...hashAllBody(seriesStride * 4)];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

// ---- Loading ----

/** The pinned xxhash-wasm version whose embedded module this file was checked against. */
export const XXHASH_WASM_VERSION = '1.1.0';

interface XxhashExports {
  mem: WebAssembly.Memory;
  xxh64: (ptr: number, len: number, seed: bigint) => bigint;
}

export interface WasmKeyHashModules {
  xxhash: WebAssembly.Module;
  hashAll: WebAssembly.Module;
}

/** One instance pair per user: it owns its memory. */
export interface WasmKeyHashInstance {
  memory: WebAssembly.Memory;
  /** hashAll(ser, n, lab, src, key, out, rule) */
  hashAll: (ser: number, n: number, lab: number, src: number, key: number, out: number, rule: number) => void;
}

let cached: WasmKeyHashModules | null | undefined;

/** Captures the wasm bytes that xxhash-wasm hands to WebAssembly.instantiate. */
function captureXxhashBytes(): Uint8Array<ArrayBuffer> | undefined {
  const require = createRequire(import.meta.url);
  let pkg: unknown;
  try {
    // The package's "exports" hide package.json; read it next to the resolved entry point.
    const entry = require.resolve('xxhash-wasm');
    const pkgJson = JSON.parse(readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version?: string };
    if (pkgJson.version !== XXHASH_WASM_VERSION) return undefined;
    pkg = require('xxhash-wasm');
  } catch {
    return undefined;
  }
  const factory = (typeof pkg === 'function' ? pkg : (pkg as { default?: unknown }).default) as (() => Promise<unknown>) | undefined;
  if (typeof factory !== 'function') return undefined;
  const wa = WebAssembly as unknown as { instantiate: unknown };
  const original = wa.instantiate;
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  // The package calls WebAssembly.instantiate(bytes) synchronously inside its factory;
  // answer with a promise that never settles, so nothing else is instantiated.
  wa.instantiate = (source: unknown) => {
    if (source instanceof Uint8Array) bytes = new Uint8Array(source);
    return new Promise(() => {});
  };
  try {
    void factory();
  } catch {
    // ignore: bytes stays undefined
  } finally {
    wa.instantiate = original;
  }
  return bytes;
}

/** Compiles both modules once per process; undefined when xxhash-wasm is unusable. */
export function loadWasmKeyHash(): WasmKeyHashModules | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  try {
    const bytes = captureXxhashBytes();
    if (!bytes) return undefined;
    const xxhash = new WebAssembly.Module(bytes);
    const hashAll = new WebAssembly.Module(hashAllModule(SERIES_STRIDE));
    const mods = { xxhash, hashAll };
    if (!selfTest(mods)) return undefined;
    cached = mods;
    return mods;
  } catch {
    return undefined;
  }
}

/** Instantiates the pair with a fresh memory. */
export function instantiateWasmKeyHash(mods: WasmKeyHashModules): WasmKeyHashInstance {
  // xxhash-wasm's module defines its own memory (exported as `mem`); hashAll imports it.
  const x = new WebAssembly.Instance(mods.xxhash, {}).exports as unknown as XxhashExports;
  const h = new WebAssembly.Instance(mods.hashAll, { env: { mem: x.mem, xxh64: x.xxh64 } }).exports as unknown as WasmKeyHashInstance;
  return { memory: x.mem, hashAll: h.hashAll };
}

/** Known answers: XXH64("abc") directly, and one key built by hashAll. */
function selfTest(mods: WasmKeyHashModules): boolean {
  const inst = instantiateWasmKeyHash(mods);
  const x = new WebAssembly.Instance(mods.xxhash, {}).exports as unknown as XxhashExports;
  new Uint8Array(x.mem.buffer).set([0x61, 0x62, 0x63], 0);
  if (BigInt.asUintN(64, x.xxh64(0, 3, 0n)) !== 0x44bc2cf5ad770999n) return false;
  // PROTOCOL.md §6.1 worked key: tenant 0:0, up{job="node",instance="a:9100"} -> 0xbd18c03b31f863a0
  const u8 = new Uint8Array(inst.memory.buffer);
  const i32 = new Int32Array(inst.memory.buffer);
  const src = 1024;
  const text = Buffer.from('__name__upjobnodeinstancea:9100', 'latin1');
  u8.set(text, src);
  const bounds = [0, 8, 8, 10, 10, 13, 13, 17, 17, 25, 25, 31];
  const lab = 256;
  i32.set(bounds, lab / 4);
  const ser = 128;
  i32.set([0, 0, 0, 3, 1, 0, 0], ser / 4);
  const key = 2048;
  u8.fill(0, key, key + 8);
  const out = 64;
  inst.hashAll(ser, 1, lab, src, key, out, 0);
  return i32[out / 4] === (0x31f863a0 | 0) && i32[out / 4 + 1] === (0xbd18c03b | 0);
}
