// Per-series routing-hash cost (PROTOCOL.md §6.1 key, XXH64, rendezvous), comparing:
//  - pure TS: key gathered in JS, 32-bit-limb XXH64 (src/route/xxh64.ts);
//  - xxhash-wasm's embedded module called per series, as PERF-NOTES §3 describes:
//    (a) key gathered in JS straight into wasm memory, one xxh64() call, BigInt result;
//    (b) streaming: request copied in once, init64/update64 per length/name/value/digest64;
//  - batch (what src/route uses): request + tables copied in once, one hashAll() call
//    builds every key in wasm and calls the same xxh64, results read as int32 pairs.
//
//   npx tsx bench/hash.ts [series=2000] [rounds=7]
//
// Prints ns/series and M series per CPU-second (process.cpuUsage; median, best and
// spread over interleaved rounds, yielding to the event loop every ms). Never asserts.

import { SeriesKeyHasher, T_HI, T_LO } from '../src/route/key.js';
import { Ring } from '../src/route/ring.js';
import { Splitter } from '../src/route/split.js';
import { loadWasmKeyHash } from '../src/route/wasm.js';
import { xxh64View } from '../src/route/xxh64.js';
import { SERIES_STRIDE, S_LABEL_COUNT, S_LABEL_FIRST, LABEL_STRIDE, L_NAME_START, L_NAME_END, L_VALUE_START, L_VALUE_END } from '../src/protocol/prw/types.js';
import { encodeWriteRequest, pmmSeries, scanWriteRequest } from '../test/route/fixtures.js';

const N = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 7);
const ROUND_MS = 300;

const view = scanWriteRequest(encodeWriteRequest(pmmSeries(N, 7)));
const acct = 0;
const proj = 0;

// Prebuilt keys, for the raw hash rows.
const tsHasher = new SeriesKeyHasher('remote-write', { backend: 'ts' });
const keyOffsets = new Int32Array(N + 1);
const keyParts: Buffer[] = [];
for (let i = 0, o = 0; i < N; i++) {
  const n = tsHasher.build(view, i, acct, proj);
  keyParts.push(Buffer.from(tsHasher.key.subarray(0, n)));
  keyOffsets[i] = o;
  o += n;
  keyOffsets[i + 1] = o;
}
const keys = Buffer.concat(keyParts);
const keysView = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
const avgKey = keys.length / N;

type Case = { name: string; run: () => number };
const cases: Case[] = [];
let sink = 0;
const out = new Uint32Array(2);
const ring3 = new Ring(['vmstorage-1:8400', 'vmstorage-2:8400', 'vmstorage-3:8400']);

cases.push({
  name: `TS: hash only (prebuilt ${avgKey.toFixed(0)} B keys)`,
  run: () => {
    for (let i = 0; i < N; i++) {
      xxh64View(keysView, keyOffsets[i], keyOffsets[i + 1], out);
      sink ^= out[1];
    }
    return N;
  },
});
cases.push({
  name: 'TS: key build + hash',
  run: () => {
    const t = tsHasher.hashAll(view, acct, proj);
    sink ^= t[T_LO];
    return N;
  },
});

const mods = loadWasmKeyHash();
if (mods) {
  interface Xx {
    mem: WebAssembly.Memory;
    xxh64(ptr: number, len: number, seed: bigint): bigint;
    init64(state: number, seed: bigint): void;
    update64(state: number, ptr: number, len: number): void;
    digest64(state: number): bigint;
  }
  const w = new WebAssembly.Instance(mods.xxhash, {}).exports as unknown as Xx;
  const M32 = 0xffffffffn;
  const keysAt = 65536;
  const reqAt = keysAt + keys.length + 64;
  const need = reqAt + view.buf.length + 65536;
  w.mem.grow(Math.ceil(need / 65536));
  const u8 = new Uint8Array(w.mem.buffer);
  u8.set(keys, keysAt);

  cases.push({
    name: 'wasm per series: hash only, BigInt split',
    run: () => {
      for (let i = 0; i < N; i++) {
        const h = w.xxh64(keysAt + keyOffsets[i], keyOffsets[i + 1] - keyOffsets[i], 0n);
        sink ^= Number(h >> 32n) ^ Number(h & M32);
      }
      return N;
    },
  });

  // (a) the same JS key builder as the TS path, its key copied into wasm memory
  const gatherHasher = new SeriesKeyHasher('remote-write', { backend: 'ts' });
  cases.push({
    name: 'wasm per series: JS key build, copy in, xxh64, BigInt split',
    run: () => {
      for (let i = 0; i < N; i++) {
        const n = gatherHasher.build(view, i, acct, proj);
        u8.set(gatherHasher.key.subarray(0, n), 0);
        const h = w.xxh64(0, n, 0n);
        sink ^= Number(h >> 32n) ^ Number(h & M32);
      }
      return N;
    },
  });

  // (b) streaming (PERF-NOTES pitfall 7: zero the 88-byte state before init64)
  const state = 1024;
  const lenAt = 2048;
  const state32 = new Int32Array(w.mem.buffer, state, 22);
  cases.push({
    name: 'wasm per series: streaming init/update per field/digest',
    run: () => {
      u8.set(view.buf, reqAt);
      const series = view.series;
      const labels = view.labels;
      for (let i = 0; i < N; i++) {
        state32.fill(0);
        w.init64(state, 0n);
        for (let b = 0; b < 8; b++) u8[lenAt + b] = 0;
        w.update64(state, lenAt, 8);
        const first = series[i * SERIES_STRIDE + S_LABEL_FIRST];
        const count = series[i * SERIES_STRIDE + S_LABEL_COUNT];
        for (let j = first * LABEL_STRIDE, e = (first + count) * LABEL_STRIDE; j < e; j += LABEL_STRIDE) {
          const ns = labels[j + L_NAME_START], nl = labels[j + L_NAME_END] - ns;
          const vs = labels[j + L_VALUE_START], vl = labels[j + L_VALUE_END] - vs;
          if (vl === 0) continue;
          u8[lenAt] = nl >>> 8;
          u8[lenAt + 1] = nl;
          w.update64(state, lenAt, 2);
          w.update64(state, reqAt + ns, nl);
          u8[lenAt] = vl >>> 8;
          u8[lenAt + 1] = vl;
          w.update64(state, lenAt, 2);
          w.update64(state, reqAt + vs, vl);
        }
        const h = w.digest64(state);
        sink ^= Number(h >> 32n) ^ Number(h & M32);
      }
      return N;
    },
  });

  const batch = new SeriesKeyHasher('remote-write', { backend: 'wasm' });
  cases.push({
    name: 'wasm batch: one hashAll() per request (src/route)',
    run: () => {
      const t = batch.hashAll(view, acct, proj);
      sink ^= t[T_LO];
      return N;
    },
  });
  cases.push({
    name: 'wasm batch + rendezvous over 3 nodes',
    run: () => {
      const t = batch.hashAll(view, acct, proj);
      for (let i = 0; i < N; i++) sink ^= ring3.primary(t[2 * i + T_HI], t[2 * i + T_LO]);
      return N;
    },
  });

  // Cross-check once: every variant gives the same hash for a few series.
  const t = batch.hashAll(view, acct, proj);
  for (const i of [0, 1, N >> 1, N - 1]) {
    xxh64View(keysView, keyOffsets[i], keyOffsets[i + 1], out);
    if (out[0] !== t[2 * i + T_HI] >>> 0 || out[1] !== t[2 * i + T_LO] >>> 0) console.log(`WARNING: wasm batch and TS differ on series ${i}`);
  }
} else {
  console.log('(xxhash-wasm not loadable: wasm rows skipped)');
}

const splitter = new Splitter();
cases.push({
  name: `Splitter.split, 3 nodes, rf=1 (${splitter.hasher.backend}; hash+route+copy)`,
  run: () => {
    sink ^= splitter.split(view, { accountID: acct, projectID: proj }, ring3, 1).length;
    return N;
  },
});

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

for (const c of cases) for (let k = 0; k < 30; k++) c.run(); // warm-up

const results = new Map<string, number[]>();
for (let r = 0; r < ROUNDS; r++) {
  // rotate the order each round so no case always runs first after a yield
  for (let ci = 0; ci < cases.length; ci++) {
    const c = cases[(ci + r) % cases.length];
    let done = 0;
    const t0 = performance.now();
    const c0 = cpuMicros();
    let lastYield = t0;
    while (performance.now() - t0 < ROUND_MS) {
      done += c.run();
      const now = performance.now();
      if (now - lastYield > 1) {
        await yieldLoop();
        lastYield = now;
      }
    }
    const cpu = cpuMicros() - c0;
    const arr = results.get(c.name) ?? [];
    arr.push((cpu * 1000) / done);
    results.set(c.name, arr);
    await yieldLoop();
  }
}

console.log(
  `node ${process.version}, ${N} series/request, ${(view.buf.length / N).toFixed(0)} B/series protobuf, ` +
    `${(view.labels.length / LABEL_STRIDE / N).toFixed(1)} labels/series, ${avgKey.toFixed(0)} B avg key, ${ROUNDS} rounds x ${ROUND_MS} ms`,
);
const w1 = Math.max(...cases.map((c) => c.name.length));
console.log(`${'case'.padEnd(w1)}  ns/series  best  spread  M series/cpu-s`);
for (const c of cases) {
  const a = [...results.get(c.name)!].sort((x, y) => x - y);
  const med = a[a.length >> 1];
  const spread = (a[a.length - 1] - a[0]) / med;
  console.log(`${c.name.padEnd(w1)}  ${med.toFixed(0).padStart(9)}  ${a[0].toFixed(0).padStart(4)}  ${(spread * 100).toFixed(0).padStart(5)}%  ${(1000 / med).toFixed(2).padStart(14)}`);
}
if (sink === 0.5) console.log(sink);
