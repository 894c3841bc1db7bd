// Node choice: rendezvous (highest-random-weight) hashing over the node identity
// strings, replicas at the following list indices (shared/vmstorage/PROTOCOL.md §6.1-6.3).
//
//   nodeHash[i] = XXH64(identity string verbatim)
//   score(i)    = mix(nodeHash[i] ^ h)
//   mix(x)      = x ^= x >> 12; x ^= x << 25; x ^= x >> 27; x * 2685821657736338717  (mod 2^64)
//   primary     = index of the strictly greatest score (first index wins a tie)
//
// With the same node strings in the same order, every series lands on the same nodes as
// a vminsert using remote write. All 64-bit steps run on uint32 halves (no BigInt): this
// runs once per series per node.

import { HASH_HI, HASH_LO, xxh64 } from './xxh64.js';

// 2685821657736338717 = 0x2545F4914F6CDD1D, split for the limb multiply (see xxh64.ts)
const MH = 0x2545f491 | 0;
const ML = 0x4f6cdd1d | 0;
const ML1 = 0x4f6c;
const ML0 = 0xdd1d;

/**
 * Optional exclusion of unavailable nodes: `exclude[i] !== 0` takes node i out of the
 * choice. Meant for re-routing (PROTOCOL.md §6.3), which runs the same rendezvous over
 * the remaining nodes.
 */
export type NodeExclusion = Uint8Array;

export class Ring {
  /** Node identity strings as given (order matters for replicas only). */
  readonly nodeIds: readonly string[];
  readonly size: number;
  /** XXH64 of each identity string, high and low halves (int32 bit patterns). */
  readonly nodeHashHi: Int32Array;
  readonly nodeHashLo: Int32Array;

  constructor(nodeIds: string[]) {
    if (nodeIds.length === 0) throw new RangeError('Ring needs at least one node');
    this.nodeIds = Object.freeze([...nodeIds]);
    this.size = nodeIds.length;
    this.nodeHashHi = new Int32Array(this.size);
    this.nodeHashLo = new Int32Array(this.size);
    const out = new Uint32Array(2);
    for (let i = 0; i < this.size; i++) {
      // The string verbatim: no trimming, no default port (vminsert hashes what was written).
      const b = Buffer.from(nodeIds[i], 'utf8');
      xxh64(b, 0, b.length, out);
      this.nodeHashHi[i] = out[HASH_HI];
      this.nodeHashLo[i] = out[HASH_LO];
    }
  }

  /**
   * Primary node index for the 64-bit series hash (hHi, hLo). With `exclude`, the winner
   * among the nodes not excluded; -1 if every node is excluded.
   */
  primary(hHi: number, hLo: number, exclude?: NodeExclusion): number {
    const n = this.size;
    if (n === 1) return exclude !== undefined && exclude[0] !== 0 ? -1 : 0;
    const nh = this.nodeHashHi;
    const nl = this.nodeHashLo;
    let best = -1;
    // Best score so far as unsigned halves; any real score beats best === -1.
    let bh = 0;
    let bl = 0;
    for (let i = 0; i < n; i++) {
      if (exclude !== undefined && exclude[i] !== 0) continue;
      // x = nodeHash ^ h
      let xh = nh[i] ^ hHi;
      let xl = nl[i] ^ hLo;
      // x ^= x >> 12
      xl ^= (xl >>> 12) | (xh << 20);
      xh ^= xh >>> 12;
      // x ^= x << 25
      xh ^= (xh << 25) | (xl >>> 7);
      xl ^= xl << 25;
      // x ^= x >> 27
      xl ^= (xl >>> 27) | (xh << 5);
      xh ^= xh >>> 27;
      // x *= 0x2545F4914F6CDD1D (low 64 bits; 16-bit partial products keep it exact)
      const a0 = xl & 0xffff;
      const a1 = xl >>> 16;
      const m = (Math.imul(a0, ML0) >>> 16) + (Math.imul(a0, ML1) & 0xffff) + (Math.imul(a1, ML0) & 0xffff);
      const sh = (Math.imul(a1, ML1) + (Math.imul(a0, ML1) >>> 16) + (Math.imul(a1, ML0) >>> 16) + (m >>> 16) + Math.imul(xh, ML) + Math.imul(xl, MH)) >>> 0;
      const sl = Math.imul(xl, ML) >>> 0;
      // strictly greater wins, so the first index keeps a tie
      if (best < 0 || sh > bh || (sh === bh && sl > bl)) {
        best = i;
        bh = sh;
        bl = sl;
      }
    }
    return best;
  }

  /**
   * Score of node i for the series hash (hHi, hLo), into out[0] (high) and out[1] (low).
   * For tests and diagnostics; primary() inlines the same arithmetic.
   */
  score(i: number, hHi: number, hLo: number, out: Uint32Array): void {
    let xh = this.nodeHashHi[i] ^ hHi;
    let xl = this.nodeHashLo[i] ^ hLo;
    xl ^= (xl >>> 12) | (xh << 20);
    xh ^= xh >>> 12;
    xh ^= (xh << 25) | (xl >>> 7);
    xl ^= xl << 25;
    xl ^= (xl >>> 27) | (xh << 5);
    xh ^= xh >>> 27;
    const a0 = xl & 0xffff;
    const a1 = xl >>> 16;
    const m = (Math.imul(a0, ML0) >>> 16) + (Math.imul(a0, ML1) & 0xffff) + (Math.imul(a1, ML0) & 0xffff);
    out[0] = Math.imul(a1, ML1) + (Math.imul(a0, ML1) >>> 16) + (Math.imul(a1, ML0) >>> 16) + (m >>> 16) + Math.imul(xh, ML) + Math.imul(xl, MH);
    out[1] = Math.imul(xl, ML);
  }

  /**
   * Nodes for `rf` copies of the series hash (hHi, hLo), written to `out[0..k)`; returns k.
   * Copy 0 is primary(); copy j goes to the next list index after copy j-1, wrapping, in
   * the node order given to the constructor (PROTOCOL.md §6.2, vminsert ≤ v1.108; pass a
   * sorted list for the v1.109+ neighbours). k = min(rf, N); with `exclude`, excluded
   * nodes are skipped, so k = min(rf, nodes left). Nodes in `out` are distinct.
   */
  replicas(hHi: number, hLo: number, rf: number, out: Int32Array, exclude?: NodeExclusion): number {
    const p = this.primary(hHi, hLo, exclude);
    if (p < 0 || rf <= 0) return 0;
    out[0] = p;
    const n = this.size;
    if (rf === 1 || n === 1) return 1;
    const want = rf < n ? rf : n;
    let k = 1;
    // Walking forward from the primary visits each other node once, so copies are distinct.
    for (let step = 1, i = p + 1; step < n && k < want; step++, i++) {
      if (i === n) i = 0;
      if (exclude !== undefined && exclude[i] !== 0) continue;
      out[k++] = i;
    }
    return k;
  }
}
