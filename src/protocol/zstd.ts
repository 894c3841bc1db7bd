// zstd decompression (RFC 8878) for VictoriaMetrics' remote-write protocol: vmagent, after
// the `?get_vm_proto_version=1` handshake, sends each block as one zstd frame of a PRW 1.0
// WriteRequest with `Content-Encoding: zstd`. Imports may use it too.
//
// Backends, fastest first (bench/protocols.ts):
// - 'node':   node:zlib's zstdDecompressSync (Node >= 22.15; absent on Node 20);
// - 'native': zstd-napi (optionalDependency, built by node-gyp at install; libzstd);
// - 'js':     fzstd (pure JS, decode only; always installed).
// SPILLWAY_ZSTD=node|native|js picks one (tests, comparisons).
//
// Limits before allocation: the frames are walked first, reading only frame and block
// headers. Their declared content sizes and window sizes are checked against the caller's
// limit, and the block headers give an upper bound on what each frame can produce (a block
// yields at most min(window, 128 KiB)), all before an output buffer exists. A frame
// without a declared size is decoded into a buffer capped at min(bound, limit), and
// decoding stops with SPW_ERR_DECOMPRESSED_TOO_LARGE past it.
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { SpillwayError } from '../errors.js';

export type ZstdImplementation = 'node' | 'native' | 'js';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK = 128 * 1024;
/** Legitimate bodies hold one frame; this many means a crafted body. */
export const MAX_ZSTD_FRAMES = 4096;
/**
 * The pure-JS decoder slides its window once per block when a frame has no declared size:
 * its cost is blocks × window bytes moved. Past this budget such a frame is refused (415)
 * rather than tying up the event loop; the native decoders have no such cost.
 */
const JS_SLIDE_BUDGET = 1 << 30;

const require = createRequire(import.meta.url);

/** One frame of a zstd body. */
export interface ZstdFrame {
  /** Byte range of the whole frame in the body. */
  start: number;
  end: number;
  skippable: boolean;
  /** Frame_Content_Size, or -1 when the frame does not declare it. */
  contentSize: number;
  /** Window_Size: how far back matches may reach (the memory a decoder needs). */
  windowSize: number;
  /** Most bytes the frame can produce, from its block headers (equals contentSize when declared). */
  bound: number;
  blocks: number;
}

export interface ZstdFrames {
  frames: ZstdFrame[];
  /** Sum of declared content sizes, or -1 when a frame does not declare its size. */
  declared: number;
  /** Sum of the frames' bounds. */
  bound: number;
}

function bad(what: string, offset: number): SpillwayError {
  return new SpillwayError('SPW_ERR_BAD_ZSTD', `${what} at offset ${offset}`);
}

/**
 * Walk the frames of a zstd body without decoding: headers, block headers and checksums
 * must all lie inside the body, which must end exactly at a frame end. Throws
 * SPW_ERR_BAD_ZSTD naming what was wrong and where, or SPW_ERR_UNSUPPORTED_ENCODING for
 * a frame that needs a dictionary.
 */
export function zstdFrames(buf: Uint8Array): ZstdFrames {
  const n = buf.length;
  if (n === 0) throw bad('empty zstd body', 0);
  const frames: ZstdFrame[] = [];
  let declared = 0;
  let bound = 0;
  let p = 0;
  while (p < n) {
    if (frames.length >= MAX_ZSTD_FRAMES) throw bad(`more than ${MAX_ZSTD_FRAMES} zstd frames in one body`, p);
    const start = p;
    if (n - p < 4) throw bad('truncated frame magic number', p);
    const magic = u32le(buf, p);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (n - p < 8) throw bad('truncated skippable frame header', p);
      const size = u32le(buf, p + 4);
      if (size > n - p - 8) throw bad(`skippable frame of ${size} bytes runs past the body`, p);
      p += 8 + size;
      frames.push({ start, end: p, skippable: true, contentSize: 0, windowSize: 0, bound: 0, blocks: 0 });
      continue;
    }
    if (magic !== ZSTD_MAGIC) {
      throw bad(`not a zstd frame (magic number 0x${magic.toString(16).padStart(8, '0')})`, p);
    }
    if (n - p < 6) throw bad('truncated frame header', p);
    const fhd = buf[p + 4]!;
    if (fhd & 0x08) throw bad('reserved bit set in the frame header descriptor', p + 4);
    const fcsFlag = fhd >>> 6;
    const singleSegment = (fhd >>> 5) & 1;
    const hasChecksum = (fhd >>> 2) & 1;
    const dictFlag = fhd & 3;
    let q = p + 5;
    let windowSize = 0;
    if (!singleSegment) {
      const wd = buf[q++]!;
      const base = 2 ** (10 + (wd >>> 3));
      windowSize = base + (base / 8) * (wd & 7);
    }
    const dictBytes = dictFlag === 3 ? 4 : dictFlag;
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    if (n - q < dictBytes + fcsBytes) throw bad('truncated frame header', p);
    let dictId = 0;
    for (let i = dictBytes - 1; i >= 0; i--) dictId = dictId * 256 + buf[q + i]!;
    q += dictBytes;
    let contentSize = -1;
    if (fcsBytes > 0) {
      contentSize = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + buf[q + i]!;
      if (fcsBytes === 2) contentSize += 256;
      q += fcsBytes;
    }
    if (dictId !== 0) {
      throw new SpillwayError('SPW_ERR_UNSUPPORTED_ENCODING', `zstd frame at offset ${p} needs dictionary ${dictId}, which Spillway does not have`);
    }
    if (singleSegment) windowSize = contentSize;
    const blockMax = Math.min(windowSize, MAX_BLOCK);

    let frameBound = 0;
    let blocks = 0;
    for (;;) {
      if (n - q < 3) throw bad('truncated block header', q);
      const h = buf[q]! | (buf[q + 1]! << 8) | (buf[q + 2]! << 16);
      const at = q;
      q += 3;
      const last = h & 1;
      const type = (h >>> 1) & 3;
      const size = h >>> 3;
      blocks++;
      if (type === 0) {
        // Raw: `size` bytes copied as they are.
        if (size > blockMax) throw bad(`raw block of ${size} bytes exceeds the block maximum of ${blockMax}`, at);
        if (size > n - q) throw bad(`raw block of ${size} bytes runs past the body`, at);
        q += size;
        frameBound += size;
      } else if (type === 1) {
        // RLE: one byte repeated `size` times.
        if (size > blockMax) throw bad(`RLE block of ${size} bytes exceeds the block maximum of ${blockMax}`, at);
        if (n - q < 1) throw bad('truncated RLE block', at);
        q += 1;
        frameBound += size;
      } else if (type === 2) {
        if (size === 0 || size > MAX_BLOCK) throw bad(`compressed block of ${size} bytes`, at);
        if (size > n - q) throw bad(`compressed block of ${size} bytes runs past the body`, at);
        q += size;
        frameBound += blockMax;
      } else {
        throw bad('reserved block type', at);
      }
      if (last) break;
    }
    if (hasChecksum) {
      if (n - q < 4) throw bad('truncated content checksum', q);
      q += 4;
    }
    if (contentSize >= 0) {
      if (contentSize > frameBound) {
        throw bad(`frame declares ${contentSize} bytes but its blocks can produce at most ${frameBound}`, p);
      }
      frameBound = contentSize;
    }
    frames.push({ start, end: q, skippable: false, contentSize, windowSize, bound: frameBound, blocks });
    if (declared >= 0) declared = contentSize >= 0 ? declared + contentSize : -1;
    bound += frameBound;
    p = q;
  }
  return { frames, declared, bound };
}

function u32le(buf: Uint8Array, p: number): number {
  return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
}

// ---- Backends. Each decodes one frame into out[pos, pos + room) and returns the bytes written. ----

/** Thrown by a backend when a frame produces more than `room` bytes. */
const OVERFLOW = Symbol('zstd overflow');

interface ZstdBackend {
  frame(src: Uint8Array, f: ZstdFrame, out: Buffer, pos: number, room: number): number;
  /** When set, decodes a whole single-frame body at once (skipping the copy into `out`). */
  whole?(src: Uint8Array, room: number): Buffer;
}

type ZlibZstd = (buf: Uint8Array, opts: { maxOutputLength: number; params?: Record<number, number> }) => Buffer;

function loadNode(): ZstdBackend | undefined {
  const decompress = (zlib as unknown as { zstdDecompressSync?: ZlibZstd }).zstdDecompressSync;
  if (typeof decompress !== 'function') return undefined;
  const windowLogMax = (zlib.constants as unknown as Record<string, number | undefined>).ZSTD_d_windowLogMax;
  const params = windowLogMax === undefined ? undefined : { [windowLogMax]: 31 };
  const run = (src: Uint8Array, room: number): Buffer => {
    try {
      // maxOutputLength must be at least 1; a frame that produces more than `room` is caught below.
      const r = decompress(src, params ? { maxOutputLength: Math.max(1, room), params } : { maxOutputLength: Math.max(1, room) });
      if (r.length > room) throw OVERFLOW;
      return r;
    } catch (err) {
      if (err === OVERFLOW || (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw OVERFLOW;
      throw codecError(err);
    }
  };
  return {
    frame: (src, _f, out, pos, room) => {
      const r = run(src, room);
      r.copy(out, pos);
      return r.length;
    },
    whole: run,
  };
}

function loadNative(): ZstdBackend | undefined {
  try {
    const binding = require('zstd-napi/binding') as {
      DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number; setParameter(p: number, v: number): void };
      DParameter: { windowLogMax: number };
    };
    const dctx = new binding.DCtx();
    // Windows were already checked against the caller's limit; do not refuse them again at 128 MiB.
    dctx.setParameter(binding.DParameter.windowLogMax, 31);
    return {
      frame: (src, _f, out, pos, room) => {
        try {
          return dctx.decompress(out.subarray(pos, pos + room), src);
        } catch (err) {
          if (/too small/i.test((err as Error).message ?? '')) throw OVERFLOW;
          throw codecError(err);
        }
      },
    };
  } catch {
    return undefined;
  }
}

interface Fzstd {
  decompress(dat: Uint8Array): Uint8Array;
  Decompress: new (ondata: (chunk: Uint8Array, final?: boolean) => unknown) => { push(chunk: Uint8Array, final?: boolean): void };
}

function loadJs(): ZstdBackend | undefined {
  let fz: Fzstd;
  try {
    fz = require('fzstd') as Fzstd;
  } catch {
    return undefined;
  }
  return {
    frame: (src, f, out, pos, room) => {
      try {
        if (f.contentSize >= 0) {
          // With a declared size fzstd decodes straight into one buffer of that size.
          if (f.contentSize > room) throw OVERFLOW;
          const r = fz.decompress(src);
          if (r.length !== f.contentSize) throw bad(`frame produced ${r.length} bytes, declared ${f.contentSize}`, f.start);
          out.set(r, pos);
          return r.length;
        }
        if (f.blocks * f.windowSize > JS_SLIDE_BUDGET) {
          throw new SpillwayError(
            'SPW_ERR_UNSUPPORTED_ENCODING',
            `zstd frame at offset ${f.start} has no declared size and ${f.blocks} blocks with a ${f.windowSize}-byte window, too costly for the pure-JS decoder (install zstd-napi)`,
          );
        }
        let written = 0;
        const d = new fz.Decompress((chunk) => {
          if (chunk.length > room - written) throw OVERFLOW;
          out.set(chunk, pos + written);
          written += chunk.length;
        });
        d.push(src, true);
        return written;
      } catch (err) {
        if (err === OVERFLOW || err instanceof SpillwayError) throw err;
        throw codecError(err);
      }
    },
  };
}

function codecError(err: unknown): SpillwayError {
  if (err instanceof SpillwayError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new SpillwayError('SPW_ERR_BAD_ZSTD', `corrupt zstd frame (${msg.slice(0, 200)})`, { cause: err });
}

const backends: Partial<Record<ZstdImplementation, ZstdBackend>> = {};
{
  const forced = process.env.SPILLWAY_ZSTD;
  const candidates: [ZstdImplementation, () => ZstdBackend | undefined][] = [
    ['node', loadNode],
    ['native', loadNative],
    ['js', loadJs],
  ];
  for (const [name, load] of candidates) {
    const b = load();
    if (b && probe(b)) backends[name] = b;
  }
  if (forced === 'node' || forced === 'native' || forced === 'js') {
    for (const k of Object.keys(backends) as ZstdImplementation[]) if (k !== forced) delete backends[k];
  }
}

/** A backend that loads but misbehaves (wrong libc, broken build) must not decode requests. */
function probe(b: ZstdBackend): boolean {
  // "spillway zstd probe, spillway zstd probe": one frame, no declared size, a repeat match.
  const frame = Buffer.from('28b52ffd0058dd0000a87370696c6c776179207a7374642070726f62652c20010031994c', 'hex');
  const want = 'spillway zstd probe, spillway zstd probe';
  try {
    const out = Buffer.alloc(64);
    const f = zstdFrames(frame).frames[0]!;
    const n = b.frame(frame, f, out, 0, out.length);
    return out.toString('latin1', 0, n) === want;
  } catch {
    return false;
  }
}

/** Implementations that loaded and passed the probe, the active one first. */
export const zstdAvailable: readonly ZstdImplementation[] = Object.freeze(
  (['node', 'native', 'js'] as const).filter((k) => backends[k] !== undefined),
);
/** The implementation zstdDecompress uses by default; undefined when none loaded (no zstd support). */
export const zstdImplementation: ZstdImplementation | undefined = zstdAvailable[0];

/**
 * Decompress a zstd body (one or more frames; skippable frames are ignored). Refuses, before
 * allocating, a body whose declared sizes or windows exceed maxBytes, or whose block headers
 * cannot produce the declared size. Errors: SPW_ERR_DECOMPRESSED_TOO_LARGE (413),
 * SPW_ERR_BAD_ZSTD (400), SPW_ERR_UNSUPPORTED_ENCODING (415: dictionaries, or no zstd codec).
 */
export function zstdDecompress(buf: Uint8Array, maxBytes: number, impl?: ZstdImplementation): Buffer {
  return decompress(buf, maxBytes, impl, undefined);
}

/**
 * zstdDecompress into an output buffer this decoder keeps and reuses (a fresh MB-sized
 * buffer per request costs more in page faults than the decompression itself, PERF-NOTES
 * pitfall 2). The result is a view valid until the next decompress() call: consume it
 * synchronously, as the write path does before its first await.
 */
export class ZstdDecoder {
  readonly #scratch = { buf: Buffer.alloc(0) };
  constructor(private readonly impl?: ZstdImplementation) {}

  decompress(buf: Uint8Array, maxBytes: number): Buffer {
    return decompress(buf, maxBytes, this.impl, this.#scratch);
  }
}

function decompress(buf: Uint8Array, maxBytes: number, impl: ZstdImplementation | undefined, scratch: { buf: Buffer } | undefined): Buffer {
  const which = impl ?? zstdImplementation;
  const backend = which === undefined ? undefined : backends[which];
  if (!backend) {
    if (impl !== undefined) throw new Error(`zstd implementation '${impl}' is not available (have: ${zstdAvailable.join(', ') || 'none'})`);
    throw new SpillwayError('SPW_ERR_UNSUPPORTED_ENCODING', 'this build has no zstd decoder');
  }
  const info = zstdFrames(buf);
  for (const f of info.frames) {
    // The window is the memory a streaming decoder keeps; with a declared size it never
    // needs more than that size, which is checked below.
    if (!f.skippable && f.contentSize < 0 && f.windowSize > maxBytes) {
      throw new SpillwayError(
        'SPW_ERR_DECOMPRESSED_TOO_LARGE',
        `zstd frame at offset ${f.start} needs a ${f.windowSize}-byte window, the limit is ${maxBytes}`,
      );
    }
  }
  if (info.declared > maxBytes) {
    throw new SpillwayError('SPW_ERR_DECOMPRESSED_TOO_LARGE', `zstd frames declare ${info.declared} uncompressed bytes, the limit is ${maxBytes} at offset 0`);
  }
  const capped = info.bound > maxBytes;
  const capacity = capped ? maxBytes : info.bound;

  const data = info.frames.filter((f) => !f.skippable);
  if (data.length === 1 && backend.whole && data[0]!.start === 0 && data[0]!.end === buf.length) {
    try {
      return checkSize(backend.whole(buf, capacity), data[0]!);
    } catch (err) {
      if (err === OVERFLOW) throw overflow(maxBytes);
      throw err;
    }
  }

  let out: Buffer;
  if (scratch) {
    if (scratch.buf.length < capacity) scratch.buf = Buffer.allocUnsafeSlow(Math.max(capacity, Math.min(maxBytes, 2 * scratch.buf.length)));
    out = scratch.buf;
  } else out = Buffer.allocUnsafe(capacity);
  let pos = 0;
  for (const f of data) {
    let written: number;
    try {
      written = backend.frame(buf.subarray(f.start, f.end), f, out, pos, capacity - pos);
    } catch (err) {
      if (err !== OVERFLOW) throw err;
      // Without a cap the room came from the block headers: more output than that is corruption.
      if (capped) throw overflow(maxBytes);
      throw bad('frame produced more than its blocks can hold', f.start);
    }
    if (f.contentSize >= 0 && written !== f.contentSize) throw bad(`frame produced ${written} bytes, declared ${f.contentSize}`, f.start);
    pos += written;
  }
  if (scratch) return out.subarray(0, pos);
  if (pos === capacity) return out;
  // A capped buffer may be far larger than what was produced: keep only the bytes.
  return pos < capacity / 2 ? Buffer.from(out.subarray(0, pos)) : out.subarray(0, pos);
}

function checkSize(r: Buffer, f: ZstdFrame): Buffer {
  if (f.contentSize >= 0 && r.length !== f.contentSize) throw bad(`frame produced ${r.length} bytes, declared ${f.contentSize}`, f.start);
  return r;
}

function overflow(maxBytes: number): SpillwayError {
  return new SpillwayError('SPW_ERR_DECOMPRESSED_TOO_LARGE', `zstd frames without a declared size decompress to more than the limit of ${maxBytes} bytes at offset 0`);
}
