// Segment files and the in-memory index of the records they hold.
//
// A node queue is a directory of segment files, each named by the global byte offset of its
// first byte as 16 lowercase hex digits, so `ls | sort` is queue order and a reader position
// is one integer. A record never spans two segments, so every segment starts on a frame
// boundary and can be verified on its own.

import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { crc32c } from './crc32c.js';
import { FRAME_HEADER, MIN_LENGTH, frameLength } from './record.js';

export const SEGMENT_NAME = /^[0-9a-f]{16}$/;

export function segmentName(start: number): string {
  return start.toString(16).padStart(16, '0');
}

/**
 * Where each record of a segment starts, its sample count and append time: 16 bytes per record
 * in typed arrays (no object per record). It makes pending counts exact when the reader moves,
 * lets read() check that an offset is a record boundary, and gives the oldest record's age
 * without touching the disk.
 */
export class RecordIndex {
  rel = new Uint32Array(16);
  samples = new Uint32Array(16);
  at = new Float64Array(16);
  n = 0;

  push(rel: number, samples: number, at: number): void {
    if (this.n === this.rel.length) this.grow(this.n * 2);
    this.rel[this.n] = rel;
    this.samples[this.n] = samples;
    this.at[this.n] = at;
    this.n++;
  }

  /** Drops entries from `i` on (a rolled-back write). */
  truncate(i: number): void {
    this.n = Math.min(this.n, i);
  }

  /** First entry whose relative offset is >= rel (n when none). */
  lowerBound(rel: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rel[mid]! < rel) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entry index of the record starting exactly at rel, or -1. */
  find(rel: number): number {
    const i = this.lowerBound(rel);
    return i < this.n && this.rel[i] === rel ? i : -1;
  }

  sumSamples(from: number, to: number): number {
    let s = 0;
    for (let i = from; i < to; i++) s += this.samples[i]!;
    return s;
  }

  private grow(cap: number): void {
    const rel = new Uint32Array(cap);
    rel.set(this.rel);
    const samples = new Uint32Array(cap);
    samples.set(this.samples);
    const at = new Float64Array(cap);
    at.set(this.at);
    this.rel = rel;
    this.samples = samples;
    this.at = at;
  }
}

export interface Segment {
  /** Global offset of the first byte; the file name. */
  readonly start: number;
  readonly path: string;
  /** Bytes of whole, valid records in the file (the writer's append position). */
  size: number;
  /** Records from the reader checkpoint (or the segment start) on. */
  readonly idx: RecordIndex;
  /** Open for appends while this is the writer's segment. */
  wfh: FileHandle | null;
  /** Opened on the first disk read, closed when the segment is deleted or the spool closes. */
  rfh: Promise<FileHandle> | null;
  /** Reads in flight on rfh: the handle is closed only when none is. */
  readers: number;
  deleted: boolean;
}

export function newSegment(dir: string, start: number): Segment {
  return { start, path: `${dir}/${segmentName(start)}`, size: 0, idx: new RecordIndex(), wfh: null, rfh: null, readers: 0, deleted: false };
}

export type ScanStop =
  /** The file ends inside a frame header or before the end its length announces: a torn write. */
  | 'torn-tail'
  /** The rest of the file is zero bytes: a file extended by a crash before its data landed. */
  | 'zero-tail'
  /** A complete frame whose CRC does not match. */
  | 'bad-crc'
  /** A length below the minimum frame: not a frame. */
  | 'bad-length'
  /** Frames run past the start of the next segment file. */
  | 'overlap';

export interface ScanResult {
  /** Relative offset just after the last good record. */
  goodEnd: number;
  records: number;
  samples: number;
  stop: ScanStop | null;
}

/**
 * Verifies the frames of one segment from relative offset `from` up to `limit` (the file size,
 * or less when the next segment starts earlier), pushing each good record into `idx`.
 * Reads through `buf` in chunks: memory stays at one buffer however big the segment or a record.
 * Sync on purpose: it runs during open, before anything else uses the spool.
 */
export function scanSegmentSync(fd: number, fileSize: number, from: number, limit: number, idx: RecordIndex, buf: Buffer): ScanResult {
  const end = Math.min(fileSize, limit);
  let bufPos = 0;
  let bufLen = 0;
  // Makes file bytes [pos, pos + n) available in buf (n <= buf.length); false if the file is shorter.
  const ensure = (pos: number, n: number): boolean => {
    if (pos >= bufPos && pos + n <= bufPos + bufLen) return true;
    bufPos = pos;
    bufLen = 0;
    const want = Math.min(buf.length, fileSize - pos);
    while (bufLen < want) {
      const r = fs.readSync(fd, buf, bufLen, want - bufLen, pos + bufLen);
      if (r <= 0) break;
      bufLen += r;
    }
    return bufLen >= n;
  };

  let p = from;
  let records = 0;
  let samples = 0;
  let stop: ScanStop | null = null;
  while (p < end) {
    const rest = end - p;
    if (rest < FRAME_HEADER || !ensure(p, FRAME_HEADER)) {
      stop = p + FRAME_HEADER > fileSize ? 'torn-tail' : 'overlap';
      break;
    }
    const b = p - bufPos;
    const len = frameLength(buf, b);
    if (len < MIN_LENGTH) {
      stop = 'bad-length';
      break;
    }
    const frameEnd = p + 8 + len;
    if (frameEnd > end) {
      stop = frameEnd > fileSize ? 'torn-tail' : 'overlap';
      break;
    }
    const want = buf.readUInt32LE(b + 4);
    const recSamples = buf.readUInt32LE(b + 21);
    const recAt = buf.readDoubleLE(b + 41);
    let crc: number;
    if (8 + len <= buf.length) {
      ensure(p, 8 + len);
      crc = crc32c(buf, 0, p - bufPos + 8, p - bufPos + 8 + len);
    } else {
      // A record bigger than the scan buffer: checksum it piece by piece.
      crc = 0;
      for (let q = p + 8; q < frameEnd; ) {
        const n = Math.min(buf.length, frameEnd - q);
        ensure(q, n);
        crc = crc32c(buf, crc, q - bufPos, q - bufPos + n);
        q += n;
      }
    }
    if (crc !== want) {
      stop = 'bad-crc';
      break;
    }
    idx.push(p, recSamples, recAt);
    records++;
    samples += recSamples;
    p = frameEnd;
  }
  if (stop !== null && stop !== 'overlap' && isZeroSync(fd, p, fileSize, buf)) stop = 'zero-tail';
  return { goodEnd: p, records, samples, stop };
}

function isZeroSync(fd: number, from: number, to: number, buf: Buffer): boolean {
  for (let pos = from; pos < to; ) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
    if (n <= 0) return false;
    for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
    pos += n;
  }
  return true;
}
