// Builds zstd frames by hand (raw and RLE blocks only), so tests can shape headers, sizes,
// windows, checksums, skippable frames and bombs exactly, without a compressor.
import { createRequire } from 'node:module';
import { HASH_LO, xxh64 } from '../../src/route/xxh64.js';

export interface FrameOptions {
  /** Bytes of Frame_Content_Size: 0 (absent), 1 (single segment only), 2, 4 or 8. Default 4. */
  fcsBytes?: 0 | 1 | 2 | 4 | 8;
  /** Declared size; default the real size. */
  declared?: number;
  singleSegment?: boolean;
  /** Window_Log for non-single-segment frames (10..41). Default 17. */
  windowLog?: number;
  checksum?: boolean;
  dictId?: number;
  /** Largest block; default 128 KiB. */
  blockSize?: number;
}

function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) {
    out.push(n % 256);
    n = Math.floor(n / 256);
  }
  return out;
}

function header(size: number, o: FrameOptions): number[] {
  const fcsBytes = o.fcsBytes ?? 4;
  const single = o.singleSegment ?? false;
  if (fcsBytes === 1 && !single) throw new Error('a 1-byte content size needs single segment');
  if (single && fcsBytes === 0) throw new Error('single segment needs a content size');
  const fcsFlag = fcsBytes === 0 || fcsBytes === 1 ? 0 : fcsBytes === 2 ? 1 : fcsBytes === 4 ? 2 : 3;
  const dictId = o.dictId ?? 0;
  const dictFlag = dictId === 0 ? 0 : dictId < 256 ? 1 : dictId < 65536 ? 2 : 3;
  const fhd = (fcsFlag << 6) | ((single ? 1 : 0) << 5) | ((o.checksum ? 1 : 0) << 2) | dictFlag;
  const h = [0x28, 0xb5, 0x2f, 0xfd, fhd];
  if (!single) h.push(((o.windowLog ?? 17) - 10) << 3);
  if (dictFlag) h.push(...le(dictId, dictFlag === 3 ? 4 : dictFlag));
  const declared = o.declared ?? size;
  if (fcsBytes === 2) h.push(...le(declared - 256, 2));
  else if (fcsBytes > 0) h.push(...le(declared, fcsBytes));
  return h;
}

function blockHeader(size: number, type: number, last: boolean): number[] {
  const h = (size << 3) | (type << 1) | (last ? 1 : 0);
  return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff];
}

function checksum(data: Uint8Array): number[] {
  const out = new Uint32Array(2);
  xxh64(data, 0, data.length, out);
  return le(out[HASH_LO]!, 4);
}

/** One frame holding `data` in raw blocks. */
export function rawFrame(data: Uint8Array, o: FrameOptions = {}): Buffer {
  const out: Buffer[] = [Buffer.from(header(data.length, o))];
  const bs = o.blockSize ?? 128 * 1024;
  if (data.length === 0) out.push(Buffer.from(blockHeader(0, 0, true)));
  for (let p = 0; p < data.length; p += bs) {
    const n = Math.min(bs, data.length - p);
    out.push(Buffer.from(blockHeader(n, 0, p + n >= data.length)), Buffer.from(data.subarray(p, p + n)));
  }
  if (o.checksum) out.push(Buffer.from(checksum(data)));
  return Buffer.concat(out);
}

/** One frame of `size` copies of `byte`, in RLE blocks: a few bytes that expand to anything. */
export function rleFrame(byte: number, size: number, o: FrameOptions = {}): Buffer {
  const out: number[] = header(size, o);
  const bs = o.blockSize ?? 128 * 1024;
  for (let p = 0; p < size; p += bs) {
    const n = Math.min(bs, size - p);
    out.push(...blockHeader(n, 1, p + n >= size), byte);
  }
  if (size === 0) out.push(...blockHeader(0, 0, true));
  if (o.checksum) out.push(...checksum(Buffer.alloc(size, byte)));
  return Buffer.from(out);
}

export function skippableFrame(payload: Uint8Array, nibble = 0): Buffer {
  return Buffer.concat([Buffer.from([0x50 | nibble, 0x2a, 0x4d, 0x18, ...le(payload.length, 4)]), Buffer.from(payload)]);
}

/** zstd-napi's compressor when it is installed (it is an optional dependency). */
export function nativeCompress(): ((src: Uint8Array, level: number) => Buffer) | undefined {
  try {
    const binding = createRequire(import.meta.url)('zstd-napi/binding') as {
      compress(dst: Uint8Array, src: Uint8Array, level: number): number;
      compressBound(n: number): number;
    };
    return (src, level) => {
      const dst = Buffer.allocUnsafe(binding.compressBound(src.length));
      return dst.subarray(0, binding.compress(dst, src, level));
    };
  } catch {
    return undefined;
  }
}
