// XXH64 (seed 0) over a byte range, in 32-bit limbs.
//
// Why limbs: a 64-bit hash as a BigInt costs an allocation per call and BigInt maths is
// slow; routing runs once per series, so the result is handed back as two uint32 halves
// (hi, lo) in a caller-owned Uint32Array and every 64-bit step is done on int32 pairs.
//
// 64-bit multiply (low 64 bits of a*b) from 32-bit halves:
//   lo = low32(al*bl)
//   hi = high32(al*bl) + low32(ah*bl) + low32(al*bh)          (mod 2^32)
// Math.imul gives every low32 product; high32(al*bl) is rebuilt from 16-bit partial
// products so that every intermediate stays an exact int32 (no float rounding).
// All constants are multipliers, so their 16-bit halves are precomputed.
//
// Layout of the loops is deliberately flat (everything inlined by hand, locals only):
// TurboFan keeps int32 locals in registers, whereas helper functions returning two
// values would need an object or module-level slots on every step.

// PRIME64_1 = 0x9E3779B185EBCA87
const P1H = 0x9e3779b1 | 0;
const P1L = 0x85ebca87 | 0;
const P1L1 = 0x85eb;
const P1L0 = 0xca87;
// PRIME64_2 = 0xC2B2AE3D27D4EB4F
const P2H = 0xc2b2ae3d | 0;
const P2L = 0x27d4eb4f | 0;
const P2L1 = 0x27d4;
const P2L0 = 0xeb4f;
// PRIME64_3 = 0x165667B19E3779F9
const P3H = 0x165667b1 | 0;
const P3L = 0x9e3779f9 | 0;
const P3L1 = 0x9e37;
const P3L0 = 0x79f9;
// PRIME64_4 = 0x85EBCA77C2B2AE63
const P4H = 0x85ebca77 | 0;
const P4L = 0xc2b2ae63 | 0;
// PRIME64_5 = 0x27D4EB2F165667C5
const P5H = 0x27d4eb2f | 0;
const P5L = 0x165667c5 | 0;
const P5L1 = 0x1656;
const P5L0 = 0x67c5;

/** Index of the high half in the `out` array of xxh64(). */
export const HASH_HI = 0;
/** Index of the low half in the `out` array of xxh64(). */
export const HASH_LO = 1;

/**
 * XXH64 with seed 0 of `buf[start, end)`. Writes the 64-bit result as two uint32 halves:
 * out[HASH_HI] = bits 63..32, out[HASH_LO] = bits 31..0. Allocates one DataView; use
 * xxh64View() on a long-lived DataView in loops.
 */
export function xxh64(buf: Uint8Array, start: number, end: number, out: Uint32Array): void {
  xxh64View(new DataView(buf.buffer, buf.byteOffset, buf.byteLength), start, end, out);
}

/**
 * XXH64 with seed 0 of bytes [start, end) of `dv`, like xxh64(). Allocates nothing.
 * Words are read with DataView#getInt32(p, true): TurboFan turns each into one unaligned
 * load, a quarter of the work of assembling them from four byte loads.
 */
export function xxh64View(dv: DataView, start: number, end: number, out: Uint32Array): void {
  const len = end - start;
  let p = start;
  // accumulator h (hi, lo), kept as int32 bit patterns
  let hh: number;
  let hl: number;

  if (len >= 32) {
    // v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1 (seed = 0)
    let v1h = 0x60ea27ee | 0;
    let v1l = 0xadc0b5d6 | 0; // P1 + P2 mod 2^64 = 0x60EA27EEADC0B5D6
    let v2h = P2H;
    let v2l = P2L;
    let v3h = 0;
    let v3l = 0;
    let v4h = 0x61c8864e | 0; // -P1 mod 2^64 = 0x61C8864E7A143579
    let v4l = 0x7a143579 | 0;
    const limit = end - 32;
    while (p <= limit) {
      // Each lane: v = rotl(v + input * P2, 31) * P1. Written out four times.
      let il: number, ih: number, a0: number, a1: number, m: number, th: number, tl: number, s: number;

      // ---- lane 1
      il = dv.getInt32(p, true);
      ih = dv.getInt32(p + 4, true);
      a0 = il & 0xffff;
      a1 = il >>> 16;
      m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
      th = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)) | 0;
      tl = Math.imul(il, P2L);
      s = (v1l + tl) | 0;
      v1h = (v1h + th + ((s >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
      v1l = s;
      // rotl 31
      th = (v1h << 31) | (v1l >>> 1);
      tl = (v1l << 31) | (v1h >>> 1);
      // * P1
      a0 = tl & 0xffff;
      a1 = tl >>> 16;
      m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
      v1h = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(th, P1L) + Math.imul(tl, P1H)) | 0;
      v1l = Math.imul(tl, P1L);

      // ---- lane 2
      il = dv.getInt32(p + 8, true);
      ih = dv.getInt32(p + 12, true);
      a0 = il & 0xffff;
      a1 = il >>> 16;
      m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
      th = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)) | 0;
      tl = Math.imul(il, P2L);
      s = (v2l + tl) | 0;
      v2h = (v2h + th + ((s >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
      v2l = s;
      th = (v2h << 31) | (v2l >>> 1);
      tl = (v2l << 31) | (v2h >>> 1);
      a0 = tl & 0xffff;
      a1 = tl >>> 16;
      m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
      v2h = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(th, P1L) + Math.imul(tl, P1H)) | 0;
      v2l = Math.imul(tl, P1L);

      // ---- lane 3
      il = dv.getInt32(p + 16, true);
      ih = dv.getInt32(p + 20, true);
      a0 = il & 0xffff;
      a1 = il >>> 16;
      m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
      th = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)) | 0;
      tl = Math.imul(il, P2L);
      s = (v3l + tl) | 0;
      v3h = (v3h + th + ((s >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
      v3l = s;
      th = (v3h << 31) | (v3l >>> 1);
      tl = (v3l << 31) | (v3h >>> 1);
      a0 = tl & 0xffff;
      a1 = tl >>> 16;
      m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
      v3h = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(th, P1L) + Math.imul(tl, P1H)) | 0;
      v3l = Math.imul(tl, P1L);

      // ---- lane 4
      il = dv.getInt32(p + 24, true);
      ih = dv.getInt32(p + 28, true);
      a0 = il & 0xffff;
      a1 = il >>> 16;
      m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
      th = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)) | 0;
      tl = Math.imul(il, P2L);
      s = (v4l + tl) | 0;
      v4h = (v4h + th + ((s >>> 0) < (tl >>> 0) ? 1 : 0)) | 0;
      v4l = s;
      th = (v4h << 31) | (v4l >>> 1);
      tl = (v4l << 31) | (v4h >>> 1);
      a0 = tl & 0xffff;
      a1 = tl >>> 16;
      m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
      v4h = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(th, P1L) + Math.imul(tl, P1H)) | 0;
      v4l = Math.imul(tl, P1L);

      p += 32;
    }

    // h = rotl(v1,1) + rotl(v2,7) + rotl(v3,12) + rotl(v4,18)
    let s: number;
    hh = (v1h << 1) | (v1l >>> 31);
    hl = (v1l << 1) | (v1h >>> 31);
    s = (hl >>> 0) + (((v2l << 7) | (v2h >>> 25)) >>> 0);
    hh = (hh + ((v2h << 7) | (v2l >>> 25)) + (s > 0xffffffff ? 1 : 0)) | 0;
    hl = s | 0;
    s = (hl >>> 0) + (((v3l << 12) | (v3h >>> 20)) >>> 0);
    hh = (hh + ((v3h << 12) | (v3l >>> 20)) + (s > 0xffffffff ? 1 : 0)) | 0;
    hl = s | 0;
    s = (hl >>> 0) + (((v4l << 18) | (v4h >>> 14)) >>> 0);
    hh = (hh + ((v4h << 18) | (v4l >>> 14)) + (s > 0xffffffff ? 1 : 0)) | 0;
    hl = s | 0;

    // Merge each lane: h = (h ^ round(0, v)) * P1 + P4
    mergeLane(hh, hl, v1h, v1l);
    mergeLane(mh, ml, v2h, v2l);
    mergeLane(mh, ml, v3h, v3l);
    mergeLane(mh, ml, v4h, v4l);
    hh = mh;
    hl = ml;
  } else {
    hh = P5H;
    hl = P5L;
  }

  // h += len (len < 2^31: add to the low half with carry)
  {
    const s = (hl >>> 0) + len;
    hl = s | 0;
    hh = (hh + (s > 0xffffffff ? 1 : 0)) | 0;
  }

  // Remaining 8-byte words: h = rotl(h ^ round(0, k), 27) * P1 + P4
  while (p + 8 <= end) {
    const il = dv.getInt32(p, true);
    const ih = dv.getInt32(p + 4, true);
    // k = round(0, input) = rotl(input * P2, 31) * P1
    let a0 = il & 0xffff;
    let a1 = il >>> 16;
    let m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
    let th = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(ih, P2L) + Math.imul(il, P2H)) | 0;
    let tl = Math.imul(il, P2L);
    const rh = (th << 31) | (tl >>> 1);
    const rl = (tl << 31) | (th >>> 1);
    a0 = rl & 0xffff;
    a1 = rl >>> 16;
    m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
    th = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(rh, P1L) + Math.imul(rl, P1H)) | 0;
    tl = Math.imul(rl, P1L);
    hh ^= th;
    hl ^= tl;
    // rotl 27
    th = (hh << 27) | (hl >>> 5);
    tl = (hl << 27) | (hh >>> 5);
    // * P1 + P4
    a0 = tl & 0xffff;
    a1 = tl >>> 16;
    m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
    hh = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(th, P1L) + Math.imul(tl, P1H)) | 0;
    hl = Math.imul(tl, P1L);
    const s = (hl + P4L) | 0;
    hh = (hh + P4H + ((s >>> 0) < (P4L >>> 0) ? 1 : 0)) | 0;
    hl = s;
    p += 8;
  }

  // A remaining 4-byte word: h = rotl(h ^ (k * P1), 23) * P2 + P3 (k zero-extended)
  if (p + 4 <= end) {
    const k = dv.getInt32(p, true);
    let a0 = k & 0xffff;
    let a1 = k >>> 16;
    let m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
    let th = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(k, P1H)) | 0;
    let tl = Math.imul(k, P1L);
    hh ^= th;
    hl ^= tl;
    th = (hh << 23) | (hl >>> 9);
    tl = (hl << 23) | (hh >>> 9);
    a0 = tl & 0xffff;
    a1 = tl >>> 16;
    m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
    hh = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(th, P2L) + Math.imul(tl, P2H)) | 0;
    hl = Math.imul(tl, P2L);
    const s = (hl + P3L) | 0;
    hh = (hh + P3H + ((s >>> 0) < (P3L >>> 0) ? 1 : 0)) | 0;
    hl = s;
    p += 4;
  }

  // Remaining bytes: h = rotl(h ^ (byte * P5), 11) * P1
  while (p < end) {
    const b = dv.getUint8(p);
    // byte * P5: byte < 256, so the high half of byte*P5L fits the 16-bit scheme trivially
    const m = (Math.imul(b, P5L0) >>> 16) + Math.imul(b, P5L1);
    let th = ((m >>> 16) + Math.imul(b, P5H)) | 0;
    let tl = Math.imul(b, P5L);
    hh ^= th;
    hl ^= tl;
    th = (hh << 11) | (hl >>> 21);
    tl = (hl << 11) | (hh >>> 21);
    const a0 = tl & 0xffff;
    const a1 = tl >>> 16;
    const mm = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
    hh = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (mm >>> 16) + Math.imul(th, P1L) + Math.imul(tl, P1H)) | 0;
    hl = Math.imul(tl, P1L);
    p++;
  }

  // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
  hl ^= hh >>> 1;
  {
    const a0 = hl & 0xffff;
    const a1 = hl >>> 16;
    const m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
    hh = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(hh, P2L) + Math.imul(hl, P2H)) | 0;
    hl = Math.imul(hl, P2L);
  }
  hl ^= (hl >>> 29) | (hh << 3);
  hh ^= hh >>> 29;
  {
    const a0 = hl & 0xffff;
    const a1 = hl >>> 16;
    const m = (Math.imul(a0, P3L0) >>> 16) + (Math.imul(a0, P3L1) & 0xffff) + (Math.imul(a1, P3L0) & 0xffff);
    hh = (Math.imul(a1, P3L1) + (Math.imul(a0, P3L1) >>> 16) + (Math.imul(a1, P3L0) >>> 16) + (m >>> 16) + Math.imul(hh, P3L) + Math.imul(hl, P3H)) | 0;
    hl = Math.imul(hl, P3L);
  }
  hl ^= hh;
  out[HASH_HI] = hh;
  out[HASH_LO] = hl;
}

// Result of mergeLane(); module-level because the merge runs only four times per hash
// (inputs of 32 bytes or more), where the cost of a context slot does not matter.
let mh = 0;
let ml = 0;

/** (mh, ml) = (h ^ round(0, v)) * P1 + P4 */
function mergeLane(hh: number, hl: number, vh: number, vl: number): void {
  // round(0, v) = rotl(v * P2, 31) * P1
  let a0 = vl & 0xffff;
  let a1 = vl >>> 16;
  let m = (Math.imul(a0, P2L0) >>> 16) + (Math.imul(a0, P2L1) & 0xffff) + (Math.imul(a1, P2L0) & 0xffff);
  let th = (Math.imul(a1, P2L1) + (Math.imul(a0, P2L1) >>> 16) + (Math.imul(a1, P2L0) >>> 16) + (m >>> 16) + Math.imul(vh, P2L) + Math.imul(vl, P2H)) | 0;
  let tl = Math.imul(vl, P2L);
  const rh = (th << 31) | (tl >>> 1);
  const rl = (tl << 31) | (th >>> 1);
  a0 = rl & 0xffff;
  a1 = rl >>> 16;
  m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
  th = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(rh, P1L) + Math.imul(rl, P1H)) | 0;
  tl = Math.imul(rl, P1L);
  hh ^= th;
  hl ^= tl;
  // * P1 + P4
  a0 = hl & 0xffff;
  a1 = hl >>> 16;
  m = (Math.imul(a0, P1L0) >>> 16) + (Math.imul(a0, P1L1) & 0xffff) + (Math.imul(a1, P1L0) & 0xffff);
  th = (Math.imul(a1, P1L1) + (Math.imul(a0, P1L1) >>> 16) + (Math.imul(a1, P1L0) >>> 16) + (m >>> 16) + Math.imul(hh, P1L) + Math.imul(hl, P1H)) | 0;
  tl = Math.imul(hl, P1L);
  const s = (tl + P4L) | 0;
  mh = (th + P4H + ((s >>> 0) < (P4L >>> 0) ? 1 : 0)) | 0;
  ml = s;
}
