// vmstorage MetricRow encoding (shared/vmstorage/PROTOCOL.md §5), straight from the byte
// ranges of a decoded remote-write request:
//
//   MetricRow     := varuint len(MetricNameRaw) | MetricNameRaw | i64 BE timestamp | u64 BE value bits
//   MetricNameRaw := u32 BE accountID | u32 BE projectID | (u16 BE len | name | u16 BE len | value)*
//
// One row per float sample. Label bytes are copied as they sit in the protobuf body: no
// strings, no escaping (the wire has none). Labels keep their request order, labels with an
// empty value are skipped and `__name__` is written with an empty name, as vminsert does on
// its remote-write path, so the bytes (and vmstorage's per-raw-name caches) are identical.
//
// The output buffer grows and is reused across calls; one writer per node batch.

import {
  LABEL_STRIDE,
  L_NAME_END,
  L_NAME_START,
  L_VALUE_END,
  L_VALUE_START,
  SERIES_STRIDE,
  S_END,
  S_LABEL_COUNT,
  S_LABEL_FIRST,
  S_SAMPLE_COUNT,
  S_START,
  type WriteRequestView,
} from '../prw/types.js';

/** Returned by appendSeries when a label name or value is longer than the u16 length allows. */
export const SERIES_NOT_ENCODABLE = -1;

/** Largest label name or value the u16 length prefix can carry. */
export const MAX_LABEL_PART_LEN = 0xffff;

/** Bytes of a row after its MetricNameRaw: i64 timestamp + u64 value bits. */
export const ROW_TAIL_LEN = 16;

// "__name__", compared byte by byte so no string is built per label.
const N0 = 0x5f; // _
const N2 = 0x6e; // n
const N3 = 0x61; // a
const N4 = 0x6d; // m
const N5 = 0x65; // e

const TAG_TS_SAMPLE = 0x12; // TimeSeries.samples = 2, len
const TAG_SAMPLE_VALUE = 0x09; // Sample.value = 1, fixed64
const TAG_SAMPLE_TIMESTAMP = 0x10; // Sample.timestamp = 2, varint

// Below this many bytes a JS loop beats Buffer#copy: its fixed cost per call (~100 ns on
// Node 20, a view allocation plus argument checks) buys about 100 bytes of loop, and label
// names and values are almost always shorter (bench/native.ts).
const SHORT_COPY = 128;

function isMetricNameLabel(buf: Buffer, s: number, len: number): boolean {
  return (
    len === 8 &&
    buf[s] === N0 &&
    buf[s + 1] === N0 &&
    buf[s + 2] === N2 &&
    buf[s + 3] === N3 &&
    buf[s + 4] === N4 &&
    buf[s + 5] === N5 &&
    buf[s + 6] === N0 &&
    buf[s + 7] === N0
  );
}

function varuintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Position just past the varint at p. The decoder validated the body, so no bounds checks. */
function skipVarint(buf: Buffer, p: number): number {
  while (buf[p++]! >= 0x80);
  return p;
}

/**
 * A varint (a length or a field tag, both below 2^32 after the decoder's checks) into out[0];
 * returns the position after it. Float64Array so values above 2^31 stay exact.
 */
function readLen(buf: Buffer, p: number, out: Float64Array): number {
  let b = buf[p++]!;
  if (b < 0x80) {
    out[0] = b;
    return p;
  }
  let v = b & 0x7f;
  let scale = 128;
  do {
    b = buf[p++]!;
    v += (b & 0x7f) * scale;
    scale *= 128;
  } while (b >= 0x80);
  out[0] = v;
  return p;
}

/**
 * Appends MetricRows to a growable buffer. `bytes()` is a view of the rows written since the
 * last reset, valid until the next append or reset; `finish()` copies them out.
 */
export class MetricRowWriter {
  #buf: Buffer;
  #len = 0;
  #rows = 0;
  readonly #lenOut = new Float64Array(1);

  constructor(initialCapacity = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(256, initialCapacity));
  }

  /** Bytes written since the last reset. */
  get length(): number {
    return this.#len;
  }

  /** Rows written since the last reset. */
  get rows(): number {
    return this.#rows;
  }

  reset(): void {
    this.#len = 0;
    this.#rows = 0;
  }

  /** The rows written so far, as a view into the writer's buffer (no copy). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  /** A copy of the rows written so far; the writer is reset for the next batch. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.#len);
    this.#buf.copy(out, 0, 0, this.#len);
    this.reset();
    return out;
  }

  /**
   * Append one row per float sample of series `seriesIndex` of `view`, under tenant
   * accountID:projectID (uint32 each). Returns the number of rows appended, or
   * SERIES_NOT_ENCODABLE (nothing appended) when a label name or value exceeds 65535 bytes,
   * which the u16 length cannot carry; the per-series limits normally drop such series first.
   * Does not look at the series' drop flag: the caller decides what to encode.
   */
  appendSeries(view: WriteRequestView, seriesIndex: number, accountID: number, projectID: number): number {
    const series = view.series;
    const si = seriesIndex * SERIES_STRIDE;
    const samples = series[si + S_SAMPLE_COUNT]!;
    if (samples === 0) return 0;
    const src = view.buf;
    const labels = view.labels;
    const firstLabel = series[si + S_LABEL_FIRST]!;
    const endLabel = firstLabel + series[si + S_LABEL_COUNT]!;

    // Pass 1: the MetricNameRaw length, which prefixes every row.
    let nameRawLen = 8;
    for (let i = firstLabel; i < endLabel; i++) {
      const li = i * LABEL_STRIDE;
      const valueLen = labels[li + L_VALUE_END]! - labels[li + L_VALUE_START]!;
      if (valueLen === 0) continue;
      const nameStart = labels[li + L_NAME_START]!;
      let nameLen = labels[li + L_NAME_END]! - nameStart;
      if (valueLen > MAX_LABEL_PART_LEN || nameLen > MAX_LABEL_PART_LEN) return SERIES_NOT_ENCODABLE;
      if (isMetricNameLabel(src, nameStart, nameLen)) nameLen = 0;
      nameRawLen += 4 + nameLen + valueLen;
    }
    const prefixLen = varuintSize(nameRawLen) + nameRawLen;
    const rowLen = prefixLen + ROW_TAIL_LEN;
    this.#ensure(rowLen * samples);

    // Pass 2: the first row's prefix. Later rows copy it (one memmove per sample).
    const out = this.#buf;
    const rowStart = this.#len;
    let p = rowStart;
    let n = nameRawLen;
    while (n > 0x7f) {
      out[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[p++] = n;
    out[p++] = accountID >>> 24;
    out[p++] = accountID >>> 16;
    out[p++] = accountID >>> 8;
    out[p++] = accountID;
    out[p++] = projectID >>> 24;
    out[p++] = projectID >>> 16;
    out[p++] = projectID >>> 8;
    out[p++] = projectID;
    for (let i = firstLabel; i < endLabel; i++) {
      const li = i * LABEL_STRIDE;
      const valueStart = labels[li + L_VALUE_START]!;
      const valueEnd = labels[li + L_VALUE_END]!;
      if (valueEnd === valueStart) continue;
      const nameStart = labels[li + L_NAME_START]!;
      let nameEnd = labels[li + L_NAME_END]!;
      if (isMetricNameLabel(src, nameStart, nameEnd - nameStart)) nameEnd = nameStart;
      p = copyPart(src, nameStart, nameEnd, out, p);
      p = copyPart(src, valueStart, valueEnd, out, p);
    }

    // Pass 3: walk the TimeSeries body for its samples, one row each.
    const lenOut = this.#lenOut;
    const seriesEnd = series[si + S_END]!;
    let q = skipVarint(src, series[si + S_START]!); // TimeSeries field tag
    q = skipVarint(src, q); // its length
    let row = rowStart;
    let written = 0;
    while (q < seriesEnd && written < samples) {
      let tag = src[q]!;
      if (tag < 0x80) q++;
      else {
        // A multi-byte tag (a large field number, or a small one encoded non-minimally):
        // read it whole, as the decoder did, so both agree on which fields are samples.
        q = readLen(src, q, lenOut);
        tag = lenOut[0]!;
      }
      if (tag === TAG_TS_SAMPLE) {
        q = readLen(src, q, lenOut);
        const sampleEnd = q + lenOut[0]!;
        if (written > 0) out.copyWithin(row, rowStart, rowStart + prefixLen);
        this.#writeSample(src, q, sampleEnd, out, row + prefixLen);
        q = sampleEnd;
        row += rowLen;
        written++;
        continue;
      }
      // Labels, exemplars, histograms and unknown fields: skip by wire type.
      switch (tag & 7) {
        case 0:
          q = skipVarint(src, q);
          break;
        case 1:
          q += 8;
          break;
        case 2:
          q = readLen(src, q, lenOut);
          q += lenOut[0]!;
          break;
        case 5:
          q += 4;
          break;
        default:
          // The decoder rejects every other wire type; stop rather than misread.
          q = seriesEnd;
      }
    }
    this.#len = row;
    this.#rows += written;
    return written;
  }

  /**
   * One Sample message [p, end) → i64 BE timestamp and u64 BE value bits at `o`. Absent
   * fields are proto3 zeros; a repeated field's last occurrence wins, as in protobuf.
   */
  #writeSample(src: Buffer, p: number, end: number, out: Buffer, o: number): void {
    let valueAt = -1;
    let lo = 0;
    let hi = 0;
    const lenOut = this.#lenOut;
    while (p < end) {
      let tag = src[p]!;
      if (tag < 0x80) p++;
      else {
        p = readLen(src, p, lenOut);
        tag = lenOut[0]!;
      }
      if (tag === TAG_SAMPLE_VALUE) {
        valueAt = p;
        p += 8;
      } else if (tag === TAG_SAMPLE_TIMESTAMP) {
        // int64 varint into two uint32 halves: 7 bits per byte, negative values take 10 bytes
        // and wrap to two's complement, which is exactly the i64 the row wants.
        lo = 0;
        hi = 0;
        let b = 0;
        let i = 0;
        for (; i < 4; i++) {
          b = src[p++]!;
          lo |= (b & 0x7f) << (7 * i);
          if (b < 0x80) break;
        }
        if (b >= 0x80) {
          b = src[p++]!;
          lo |= (b & 0x0f) << 28;
          hi = (b & 0x7f) >>> 4;
          for (i = 5; b >= 0x80 && i < 10; i++) {
            b = src[p++]!;
            hi |= (b & 0x7f) << (7 * i - 32);
          }
        }
      } else {
        // Unknown Sample field: skip by wire type.
        switch (tag & 7) {
          case 0:
            p = skipVarint(src, p);
            break;
          case 1:
            p += 8;
            break;
          case 2:
            p = readLen(src, p, lenOut);
            p += lenOut[0]!;
            break;
          case 5:
            p += 4;
            break;
          default:
            p = end;
        }
      }
    }
    out[o] = hi >>> 24;
    out[o + 1] = hi >>> 16;
    out[o + 2] = hi >>> 8;
    out[o + 3] = hi;
    out[o + 4] = lo >>> 24;
    out[o + 5] = lo >>> 16;
    out[o + 6] = lo >>> 8;
    out[o + 7] = lo;
    if (valueAt < 0) {
      out.fill(0, o + 8, o + 16);
      return;
    }
    // The protobuf double is little-endian; the row wants the same 64 bits big-endian.
    // Reversing the bytes (rather than going through a JS number) keeps every NaN payload,
    // the staleness marker included, bit for bit.
    out[o + 8] = src[valueAt + 7]!;
    out[o + 9] = src[valueAt + 6]!;
    out[o + 10] = src[valueAt + 5]!;
    out[o + 11] = src[valueAt + 4]!;
    out[o + 12] = src[valueAt + 3]!;
    out[o + 13] = src[valueAt + 2]!;
    out[o + 14] = src[valueAt + 1]!;
    out[o + 15] = src[valueAt]!;
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
}

/** u16 BE length, then the bytes [s, e) of src. Returns the position after them. */
function copyPart(src: Buffer, s: number, e: number, out: Buffer, p: number): number {
  const len = e - s;
  out[p++] = len >>> 8;
  out[p++] = len;
  if (len < SHORT_COPY) {
    // Four bytes per iteration: fewer loop checks, ~10-15% faster on PMM-like labels.
    let i = s;
    for (; i + 4 <= e; i += 4, p += 4) {
      out[p] = src[i]!;
      out[p + 1] = src[i + 1]!;
      out[p + 2] = src[i + 2]!;
      out[p + 3] = src[i + 3]!;
    }
    for (; i < e; i++) out[p++] = src[i]!;
    return p;
  }
  src.copy(out, p, s, e);
  return p + len;
}

// ---- Reading rows back: the fake vmstorage, tests, tools. Not on the hot path. ----

export class MetricRowFormatError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
    this.name = 'MetricRowFormatError';
  }
}

/**
 * End offset of the MetricRow starting at `p` in buf[p, end), checking only its framing
 * (length varint, room for name and tail). Throws MetricRowFormatError when it does not fit.
 */
export function metricRowEnd(buf: Uint8Array, p: number, end: number): number {
  const start = p;
  let len = 0;
  let scale = 1;
  for (let i = 0; ; i++) {
    if (p >= end) throw new MetricRowFormatError('truncated MetricNameRaw length', start);
    if (i === 8) throw new MetricRowFormatError('MetricNameRaw length varint too long', start);
    const b = buf[p++]!;
    len += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
  }
  if (len < 8) throw new MetricRowFormatError(`MetricNameRaw of ${len} bytes is shorter than its tenant`, start);
  const rowEnd = p + len + ROW_TAIL_LEN;
  if (rowEnd > end) throw new MetricRowFormatError(`row of ${rowEnd - start} bytes runs past the payload (${end - start} left)`, start);
  return rowEnd;
}

export interface MetricRowLabel {
  /** Raw name bytes as on the wire; empty for the metric name. */
  name: Buffer;
  value: Buffer;
}

export interface DecodedMetricRow {
  accountID: number;
  projectID: number;
  labels: MetricRowLabel[];
  /** i64 milliseconds. */
  timestamp: bigint;
  /** The float64 bit pattern as sent. */
  valueBits: bigint;
  /** The MetricNameRaw bytes (tenant and labels), a view into the payload. */
  metricNameRaw: Buffer;
}

/** Decode one MetricRow at `p`; returns it and the offset after it. */
export function decodeMetricRow(buf: Buffer, p: number, end = buf.length): { row: DecodedMetricRow; next: number } {
  const rowEnd = metricRowEnd(buf, p, end);
  const nameEnd = rowEnd - ROW_TAIL_LEN;
  while (buf[p++]! >= 0x80);
  const nameStart = p;
  const accountID = buf.readUInt32BE(p);
  const projectID = buf.readUInt32BE(p + 4);
  p += 8;
  const labels: MetricRowLabel[] = [];
  while (p < nameEnd) {
    if (nameEnd - p < 2) throw new MetricRowFormatError('truncated label name length', p);
    const nl = buf.readUInt16BE(p);
    p += 2;
    if (nameEnd - p < nl + 2) throw new MetricRowFormatError('label name runs past MetricNameRaw', p);
    const name = buf.subarray(p, p + nl);
    p += nl;
    const vl = buf.readUInt16BE(p);
    p += 2;
    if (nameEnd - p < vl) throw new MetricRowFormatError('label value runs past MetricNameRaw', p);
    labels.push({ name, value: buf.subarray(p, p + vl) });
    p += vl;
  }
  return {
    row: {
      accountID,
      projectID,
      labels,
      timestamp: buf.readBigInt64BE(nameEnd),
      valueBits: buf.readBigUInt64BE(nameEnd + 8),
      metricNameRaw: buf.subarray(nameStart, nameEnd),
    },
    next: rowEnd,
  };
}

/** Every MetricRow of a packet payload (or of a spool record's data). */
export function decodeMetricRows(payload: Buffer): DecodedMetricRow[] {
  const rows: DecodedMetricRow[] = [];
  let p = 0;
  while (p < payload.length) {
    const r = decodeMetricRow(payload, p);
    rows.push(r.row);
    p = r.next;
  }
  return rows;
}
