// Raw snappy block format (not the framed stream format), as remote write uses it.
//
// The native napi-rs `snappy` package is preferred (PERF-NOTES §1: 3–4× faster than pure JS);
// it is an optionalDependency, so `snappyjs` stands in when the binary is missing or broken.
// SPILLWAY_SNAPPY=js forces the fallback (tests, comparisons).
//
// Every codec failure surfaces as a SpillwayError, and the declared uncompressed length is
// checked against the caller's limit before anything of that size is allocated.
import { createRequire } from 'node:module';
import { SpillwayError } from '../errors.js';

export type SnappyImplementation = 'native' | 'js';

interface SnappyBackend {
  uncompress(src: Uint8Array): Uint8Array;
  compress(src: Uint8Array): Uint8Array;
}

// Both packages are CommonJS, so a synchronous require keeps this module free of top-level
// await (which would stop CommonJS callers and some loaders from importing it). The optional
// native package may be absent or broken; that is what the try is for.
const require = createRequire(import.meta.url);

function loadNative(): SnappyBackend | undefined {
  if (process.env.SPILLWAY_SNAPPY === 'js') return undefined;
  try {
    const mod = require('snappy') as {
      uncompressSync(input: Uint8Array, opts?: { asBuffer?: boolean }): Buffer | string;
      compressSync(input: Uint8Array): Buffer;
    };
    // Compression is the costliest stage (once per node per request). The wasm build of
    // the same algorithm compresses ~1.7x faster per CPU-second here, and its output lives
    // in the JS heap instead of native memory that is only freed when finalizers run.
    const wasm = loadWasmCompressor();
    const backend: SnappyBackend = {
      uncompress: (src) => mod.uncompressSync(src, { asBuffer: true }) as Buffer,
      compress: wasm ?? ((src) => mod.compressSync(src)),
    };
    // A binary that loads but misbehaves (wrong libc, truncated download) must not become
    // the codec for every request: prove a round trip once.
    const probe = Buffer.from('spillway snappy probe spillway snappy probe');
    if (!Buffer.from(backend.uncompress(backend.compress(probe))).equals(probe)) return undefined;
    return backend;
  } catch {
    return undefined;
  }
}

function loadWasmCompressor(): ((src: Uint8Array) => Uint8Array) | undefined {
  if (process.env.SPILLWAY_SNAPPY_COMPRESS === 'native') return undefined;
  try {
    const mod = require('snappy-wasm') as { compress_raw(input: Uint8Array): Uint8Array };
    const compress = (src: Uint8Array) => {
      const out = mod.compress_raw(src);
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    };
    return compress;
  } catch {
    return undefined;
  }
}

function loadJs(): SnappyBackend | undefined {
  try {
    // snappyjs ships no types.
    const mod = require('snappyjs') as {
      uncompress(input: Buffer, maxLength?: number): Buffer;
      compress(input: Buffer): Buffer;
    };
    return {
      uncompress: (src) => {
        // snappyjs neither bounds its output nor reports how much it wrote, so the stream is
        // checked first; afterwards it can only produce exactly the declared length.
        validateSnappyBlock(src);
        return mod.uncompress(asBuffer(src));
      },
      compress: (src) => mod.compress(asBuffer(src)),
    };
  } catch {
    return undefined;
  }
}

function asBuffer(src: Uint8Array): Buffer {
  return Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
}

const backends: Partial<Record<SnappyImplementation, SnappyBackend>> = {};
{
  const native = loadNative();
  const js = loadJs();
  if (native) backends.native = native;
  if (js) backends.js = js;
}

/** Implementations that loaded, the active one first. */
export const snappyAvailable: readonly SnappyImplementation[] = Object.freeze(
  (['native', 'js'] as const).filter((k) => backends[k] !== undefined),
);
if (snappyAvailable.length === 0) {
  throw new Error('spillway: neither the snappy nor the snappyjs package could be loaded; run npm install');
}
/** The implementation snappyUncompress/snappyCompress use by default. */
export const snappyImplementation: SnappyImplementation = snappyAvailable[0]!;

function backendFor(impl: SnappyImplementation | undefined): SnappyBackend {
  const b = backends[impl ?? snappyImplementation];
  if (!b) throw new Error(`snappy implementation '${impl}' is not available (have: ${snappyAvailable.join(', ')})`);
  return b;
}

// Scratch for the varint reader: the byte length of the last varint read.
let varintBytes = 0;

/**
 * The uncompressed length a snappy block declares in its leading uvarint (at most 2^32-1).
 * Throws SPW_ERR_BAD_SNAPPY when the varint is missing, truncated, longer than 5 bytes or
 * larger than 32 bits.
 */
export function snappyDeclaredLength(buf: Uint8Array): number {
  let value = 0;
  const n = buf.length;
  for (let i = 0; i < 5; i++) {
    if (i >= n) {
      throw new SpillwayError('SPW_ERR_BAD_SNAPPY', n === 0 ? 'empty snappy block at offset 0' : `truncated length varint at offset ${i}`);
    }
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) {
      if (value > 0xffffffff) throw new SpillwayError('SPW_ERR_BAD_SNAPPY', 'declared length exceeds 32 bits at offset 0');
      varintBytes = i + 1;
      return value;
    }
  }
  throw new SpillwayError('SPW_ERR_BAD_SNAPPY', 'length varint longer than 5 bytes at offset 0');
}

// The most a snappy element can expand: a 3-byte copy emits up to 64 bytes.
const MAX_EXPANSION = 22;

/**
 * Decompress a raw snappy block. The declared length is checked against maxBytes before any
 * decompression (SPW_ERR_DECOMPRESSED_TOO_LARGE); a corrupt block, or one whose output does
 * not have the declared length, is SPW_ERR_BAD_SNAPPY.
 */
export function snappyUncompress(buf: Uint8Array, maxBytes: number, impl?: SnappyImplementation): Buffer {
  const declared = snappyDeclaredLength(buf);
  if (declared > maxBytes) {
    throw new SpillwayError(
      'SPW_ERR_DECOMPRESSED_TOO_LARGE',
      `snappy block declares ${declared} uncompressed bytes, the limit is ${maxBytes} at offset 0`,
    );
  }
  // A block this short cannot produce the declared length; refuse before allocating for it.
  if (declared > (buf.length - varintBytes) * MAX_EXPANSION) {
    throw new SpillwayError(
      'SPW_ERR_BAD_SNAPPY',
      `snappy block of ${buf.length} bytes cannot expand to the declared ${declared} bytes at offset 0`,
    );
  }
  const backend = backendFor(impl);
  let out: Uint8Array;
  try {
    out = backend.uncompress(buf);
  } catch (err) {
    if (err instanceof SpillwayError) throw err;
    // The native codec does not say where the block went wrong; the validator does.
    validateSnappyBlock(buf);
    const msg = err instanceof Error ? err.message : String(err);
    throw new SpillwayError('SPW_ERR_BAD_SNAPPY', `corrupt snappy block (${msg}) at offset 0`, { cause: err });
  }
  if (out.length !== declared) {
    throw new SpillwayError('SPW_ERR_BAD_SNAPPY', `snappy block produced ${out.length} bytes, declared ${declared} at offset 0`);
  }
  return asBuffer(out);
}

/** Compress into a raw snappy block. */
export function snappyCompress(buf: Uint8Array, impl?: SnappyImplementation): Buffer {
  return asBuffer(backendFor(impl).compress(buf));
}

/**
 * Walk a snappy block's elements without producing output: every element must lie inside
 * the block, every copy must reach back only into bytes already produced, and the total
 * must equal the declared length. Throws SPW_ERR_BAD_SNAPPY with the offending offset.
 */
export function validateSnappyBlock(buf: Uint8Array): void {
  const declared = snappyDeclaredLength(buf);
  const n = buf.length;
  let p = varintBytes;
  let produced = 0;
  while (p < n) {
    const at = p;
    const tag = buf[p++]!;
    let len: number;
    let offset = 0;
    switch (tag & 3) {
      case 0: {
        len = (tag >>> 2) + 1;
        if (len > 60) {
          const extra = len - 60;
          if (p + extra > n) throw badSnappy('truncated literal length', at);
          len = 0;
          for (let i = 0; i < extra; i++) len += buf[p + i]! * 2 ** (8 * i);
          len += 1;
          p += extra;
        }
        if (len > n - p) throw badSnappy(`literal of ${len} bytes runs past the block`, at);
        p += len;
        break;
      }
      case 1:
        if (p + 1 > n) throw badSnappy('truncated copy', at);
        len = ((tag >>> 2) & 7) + 4;
        offset = ((tag >>> 5) << 8) | buf[p]!;
        p += 1;
        break;
      case 2:
        if (p + 2 > n) throw badSnappy('truncated copy', at);
        len = (tag >>> 2) + 1;
        offset = buf[p]! | (buf[p + 1]! << 8);
        p += 2;
        break;
      default:
        if (p + 4 > n) throw badSnappy('truncated copy', at);
        len = (tag >>> 2) + 1;
        offset = (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
        p += 4;
        break;
    }
    if ((tag & 3) !== 0 && (offset === 0 || offset > produced)) {
      throw badSnappy(`copy offset ${offset} reaches before the start of the output`, at);
    }
    produced += len;
    if (produced > declared) throw badSnappy(`output exceeds the declared ${declared} bytes`, at);
  }
  if (produced !== declared) throw badSnappy(`block produced ${produced} bytes, declared ${declared}`, n);
}

function badSnappy(what: string, offset: number): SpillwayError {
  return new SpillwayError('SPW_ERR_BAD_SNAPPY', `${what} at offset ${offset}`);
}

/**
 * Joins snappy blocks into one block whose content is the blocks' contents one after the
 * other, without decompressing: a block is its uncompressed length followed by elements whose
 * copies reach back by distance, never past the block's own start, so the element streams
 * stay valid when laid end to end under one new length. Used to send several spooled
 * remote-write records as one request (concatenated WriteRequests are one WriteRequest).
 */
export function snappyConcat(blocks: readonly Uint8Array[]): Buffer {
  let total = 0;
  let elements = 0;
  const skip: number[] = [];
  for (const b of blocks) {
    total += snappyDeclaredLength(b);
    skip.push(varintBytes);
    elements += b.length - varintBytes;
  }
  if (total > 0xffffffff) throw new SpillwayError('SPW_ERR_DECOMPRESSED_TOO_LARGE', `joined blocks would hold ${total} bytes`);
  const head: number[] = [];
  for (let v = total; ; ) {
    if (v < 0x80) {
      head.push(v);
      break;
    }
    head.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  const out = Buffer.allocUnsafe(head.length + elements);
  out.set(head, 0);
  let at = head.length;
  blocks.forEach((b, i) => {
    out.set(b.subarray(skip[i]!), at);
    at += b.length - skip[i]!;
  });
  return out;
}
