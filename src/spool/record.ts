// The record frame: how one appended record is laid out in a segment file.
//
// All integers little-endian (the byte order of every machine Spillway targets, so the
// encoder and the decoder never swap). Offsets inside a frame:
//
//    0  u32  length      bytes after the crc field: 1 (kind) + 40 (meta) + data
//    4  u32  crc32c      CRC-32C over bytes [8, 8 + length): kind, meta and data
//    8  u8   kind        RecordKind
//    9  u32  accountID
//   13  u32  projectID
//   17  u32  series
//   21  u32  samples
//   25  f64  minTs       ms; f64 holds every integer up to 2^53 exactly and needs no BigInt
//   33  f64  maxTs
//   41  f64  appendedAt  wall-clock ms of the append
//   49  ...  data        the payload the sender sends as is
//
// The CRC covers the length implicitly: a wrong length makes the CRC cover the wrong bytes.

import { crc32c } from './crc32c.js';
import type { RecordKind, RecordMeta, SpoolRecord } from './types.js';

/** Bytes before the data: length, crc, kind and the fixed meta header. */
export const FRAME_HEADER = 49;
/** The smallest valid `length` field: kind + meta with empty data. */
export const MIN_LENGTH = FRAME_HEADER - 8;
/** The largest data a u32 length can describe. */
export const MAX_DATA = 0xffffffff - MIN_LENGTH;

/** Builds the 49-byte frame header for `data`, CRC included. */
export function encodeHeader(meta: RecordMeta, appendedAt: number, data: Uint8Array): Buffer {
  if (data.length > MAX_DATA) throw new RangeError(`record data of ${data.length} bytes exceeds the frame limit`);
  // allocUnsafe of a small size carves from Node's shared pool: no per-record malloc.
  const h = Buffer.allocUnsafe(FRAME_HEADER);
  h.writeUInt32LE(MIN_LENGTH + data.length, 0);
  h.writeUInt8(meta.kind, 8);
  h.writeUInt32LE(meta.accountID, 9);
  h.writeUInt32LE(meta.projectID, 13);
  h.writeUInt32LE(meta.series, 17);
  h.writeUInt32LE(meta.samples, 21);
  h.writeDoubleLE(meta.minTs, 25);
  h.writeDoubleLE(meta.maxTs, 33);
  h.writeDoubleLE(appendedAt, 41);
  h.writeUInt32LE(crc32c(data, crc32c(h, 0, 8, FRAME_HEADER)), 4);
  return h;
}

/** The length field of the frame at buf[at]. */
export function frameLength(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;
}

/** True when the frame at buf[at] (whole, FRAME_HEADER + data bytes present) carries a matching CRC. */
export function frameCrcOk(buf: Buffer, at: number): boolean {
  const len = frameLength(buf, at);
  return buf.readUInt32LE(at + 4) === crc32c(buf, 0, at + 8, at + 8 + len);
}

/**
 * Decodes a whole, CRC-checked frame held in `buf` starting at 0. The record's data is a view
 * into `buf` (no copy), so `buf` must belong to the record from now on.
 */
export function decodeFrame(buf: Buffer, offset: number): SpoolRecord {
  const len = frameLength(buf, 0);
  return {
    kind: buf[8] as RecordKind,
    accountID: buf.readUInt32LE(9),
    projectID: buf.readUInt32LE(13),
    series: buf.readUInt32LE(17),
    samples: buf.readUInt32LE(21),
    minTs: buf.readDoubleLE(25),
    maxTs: buf.readDoubleLE(33),
    appendedAt: buf.readDoubleLE(41),
    data: buf.subarray(FRAME_HEADER, 8 + len),
    offset,
    nextOffset: offset + 8 + len,
  };
}
