// Hand-written, single-pass decoder for Prometheus remote-write 1.0 WriteRequests.
//
// Nothing is materialised: a series, its labels and its samples are byte ranges of the body,
// recorded into typed arrays that one decoder reuses from request to request (PERF-NOTES §2,
// Pitfalls 3 and 5). The walk validates the wire format as it goes, so routing can later
// copy series ranges verbatim knowing each one is a well-formed TimeSeries field, and it
// applies the per-series limits in the same pass.
//
// Untrusted input: every length is checked against its parent before it is used, every
// loop advances, and the only allocations grow with what is actually in the body.
import { SpillwayError } from '../../errors.js';
import {
  DropReason,
  LABEL_STRIDE,
  L_NAME_END,
  L_NAME_START,
  L_VALUE_END,
  L_VALUE_START,
  SERIES_STRIDE,
  S_DROP,
  S_END,
  S_HISTOGRAM_COUNT,
  S_LABEL_COUNT,
  S_LABEL_FIRST,
  S_SAMPLE_COUNT,
  S_START,
  type SeriesLimits,
  type WriteRequestView,
} from './types.js';

// Tags (field << 3 | wire type) of the fields this decoder knows; all fit in one byte.
// const enums, because esbuild and tsc inline them as literals: module-level constants and
// imports cost a load and a hole check per use in optimised code, which the label loop feels.
const enum Tag {
  WrTimeseries = 0x0a, // WriteRequest.timeseries = 1, len
  WrMetadata = 0x1a, // WriteRequest.metadata = 3, len
  TsLabel = 0x0a, // TimeSeries.labels = 1, len
  TsSample = 0x12, // TimeSeries.samples = 2, len
  TsExemplar = 0x1a, // TimeSeries.exemplars = 3, len
  TsHistogram = 0x22, // TimeSeries.histograms = 4, len
  LabelName = 0x0a, // Label.name = 1, len
  LabelValue = 0x12, // Label.value = 2, len
  SampleValue = 0x09, // Sample.value = 1, fixed64
  SampleTimestamp = 0x10, // Sample.timestamp = 2, varint
  ExemplarLabel = 0x0a, // Exemplar.labels = 1, len
  ExemplarValue = 0x11, // Exemplar.value = 2, fixed64
  ExemplarTimestamp = 0x18, // Exemplar.timestamp = 3, varint
  HistogramTimestamp = 0x78, // Histogram.timestamp = 15, varint
}

const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

// The view layout of types.ts, inlined for the same reason; checked against it below.
const enum Ser {
  Start = 0,
  End = 1,
  LabelFirst = 2,
  LabelCount = 3,
  SampleCount = 4,
  HistogramCount = 5,
  Drop = 6,
  Stride = 7,
}
const enum Lab {
  NameStart = 0,
  NameEnd = 1,
  ValueStart = 2,
  ValueEnd = 3,
  Stride = 4,
}
if (
  [Ser.Start, Ser.End, Ser.LabelFirst, Ser.LabelCount, Ser.SampleCount, Ser.HistogramCount, Ser.Drop, Ser.Stride].join() !==
    [S_START, S_END, S_LABEL_FIRST, S_LABEL_COUNT, S_SAMPLE_COUNT, S_HISTOGRAM_COUNT, S_DROP, SERIES_STRIDE].join() ||
  [Lab.NameStart, Lab.NameEnd, Lab.ValueStart, Lab.ValueEnd, Lab.Stride].join() !==
    [L_NAME_START, L_NAME_END, L_VALUE_START, L_VALUE_END, LABEL_STRIDE].join()
) {
  throw new Error('prw/decode.ts: the inlined view layout no longer matches prw/types.ts');
}

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'wire type 6', 'wire type 7'];

const TWO_32 = 4294967296;
const INITIAL_SERIES = 1024;
/** Far above any client's batch (vmagent: 10k samples, Prometheus: 2k), far below what hurts. */
export const MAX_SERIES_PER_REQUEST = 2_000_000;
const INITIAL_LABELS = 16 * 1024;

function bad(what: string, offset: number): SpillwayError {
  return new SpillwayError('SPW_ERR_BAD_PROTOBUF', `${what} at offset ${offset}`);
}

function wrongWire(field: string, tag: number, offset: number): SpillwayError {
  return bad(`${field} has wire type ${WIRE_NAMES[tag & 7]}`, offset);
}

function limitOrInfinity(n: number): number {
  // A non-positive or non-finite limit means "no limit": a zero limit would drop every series.
  return Number.isFinite(n) && n > 0 ? n : Infinity;
}

// Position just past the last varint read by the helpers below. Module state is safe here:
// decoding is synchronous, and each worker thread has its own module instance.
let next = 0;

export class PrwDecoder {
  readonly #maxLabels: number;
  readonly #maxNameLen: number;
  readonly #maxValueLen: number;

  #series = new Int32Array(INITIAL_SERIES * Ser.Stride);
  #labels = new Int32Array(INITIAL_LABELS * Lab.Stride);
  #seriesCount = 0;
  #labelCount = 0;

  // Running totals of the current decode().
  #sampleCount = 0;
  #histogramCount = 0;
  #droppedSamples = 0;
  #minTs = Infinity;
  #maxTs = -Infinity;
  readonly #droppedSeries = new Uint32Array(4);

  readonly #view: WriteRequestView;

  constructor(limits: SeriesLimits) {
    this.#maxLabels = limitOrInfinity(limits.maxLabelsPerTimeseries);
    this.#maxNameLen = limitOrInfinity(limits.maxLabelNameLen);
    this.#maxValueLen = limitOrInfinity(limits.maxLabelValueLen);
    this.#view = {
      buf: Buffer.alloc(0),
      seriesCount: 0,
      series: this.#series,
      labels: this.#labels,
      sampleCount: 0,
      histogramCount: 0,
      droppedSeries: this.#droppedSeries,
      droppedSamples: 0,
      minTimestamp: 0,
      maxTimestamp: 0,
      metadataCount: 0,
    };
  }

  /**
   * Decode one uncompressed WriteRequest. The returned view (and its typed arrays) is reused
   * by the next call on this decoder. Throws SPW_ERR_BAD_PROTOBUF, naming what was wrong and
   * where, when the body is not a well-formed WriteRequest.
   */
  decode(buf: Buffer): WriteRequestView {
    const end = buf.length;
    if (end > 0x7fffffff) throw bad(`body of ${end} bytes is larger than 2 GiB`, 0);
    this.#shrinkAfterOutlier();
    this.#seriesCount = 0;
    this.#labelCount = 0;
    this.#sampleCount = 0;
    this.#histogramCount = 0;
    this.#droppedSamples = 0;
    this.#minTs = Infinity;
    this.#maxTs = -Infinity;
    this.#droppedSeries.fill(0);
    let metadata = 0;

    let p = 0;
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = readTag(buf, p, end, 'WriteRequest');
        p = next;
      }
      if (tag === Tag.WrTimeseries) {
        let len: number;
        if (p < end && (len = buf[p]!) < 0x80) p++;
        else {
          len = readLen(buf, p, end, 'WriteRequest.timeseries', at);
          p = next;
        }
        if (len > end - p) throw pastParent('WriteRequest.timeseries', len, end - p, at);
        this.#timeSeries(buf, at, p, p + len);
        p += len;
      } else if (tag === Tag.WrMetadata) {
        const len = readLen(buf, p, end, 'WriteRequest.metadata', at);
        p = next + len;
        metadata++;
      } else {
        const field = tag >>> 3;
        if (field === 1) throw wrongWire('WriteRequest.timeseries', tag, at);
        if (field === 3) throw wrongWire('WriteRequest.metadata', tag, at);
        p = skipField(buf, p, end, tag, 'WriteRequest', at);
      }
    }

    const v = this.#view;
    v.buf = buf;
    v.seriesCount = this.#seriesCount;
    v.series = this.#series;
    v.labels = this.#labels;
    v.sampleCount = this.#sampleCount;
    v.histogramCount = this.#histogramCount;
    v.droppedSamples = this.#droppedSamples;
    const any = this.#minTs <= this.#maxTs;
    v.minTimestamp = any ? this.#minTs : 0;
    v.maxTimestamp = any ? this.#maxTs : 0;
    v.metadataCount = metadata;
    return v;
  }

  /**
   * Walk one TimeSeries (body [p, end), field tag at `start`) and record it. Labels are the
   * bulk of every request (10–14 per series), so their walk is inlined here with one-byte
   * fast paths for tags and lengths.
   */
  #timeSeries(buf: Buffer, start: number, p: number, end: number): void {
    // Real clients send thousands of series per request; a body of millions of near-empty
    // ones would only cost index memory.
    if (this.#seriesCount >= MAX_SERIES_PER_REQUEST) {
      throw new SpillwayError('SPW_ERR_TOO_MANY_SERIES', `more than ${MAX_SERIES_PER_REQUEST} series in one request (at offset ${start})`);
    }
    if ((this.#seriesCount + 1) * Ser.Stride > this.#series.length) this.#growSeries();
    const maxNameLen = this.#maxNameLen;
    const maxValueLen = this.#maxValueLen;
    let labels = this.#labels;
    const labelFirst = this.#labelCount;
    let labelCount = labelFirst;
    // Past the limit the series is dropped, so its further labels are only counted: a body
    // of millions of tiny labels must not grow the index with them.
    const storeEnd = labelFirst + Math.min(this.#maxLabels + 1, 0x7fffffff);
    let extraLabels = 0;
    let samples = 0;
    let histograms = 0;
    let nameTooLong = false;
    let valueTooLong = false;
    let tsMin = Infinity;
    let tsMax = -Infinity;

    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag === Tag.TsLabel) {
        // Fast path for the canonical encoding every client uses for a non-empty label:
        // 0a L 0a N <name> 12 V <value>, one-byte lengths that add up to L exactly (which
        // also proves every range lies inside the label). Anything else takes the general
        // path below.
        const len = buf[p + 1]!;
        const n = buf[p + 3]!;
        if (len < 0x80 && n < 0x80 && buf[p + 2] === Tag.LabelName && n + 4 <= len && len <= end - p - 2) {
          const vAt = p + 4 + n;
          const v = buf[vAt + 1]!;
          if (buf[vAt] === Tag.LabelValue && n + v + 4 === len) {
            if (labelCount >= storeEnd) {
              extraLabels++;
              p = vAt + 2 + v;
              continue;
            }
            const li = labelCount * Lab.Stride;
            if (li + Lab.Stride > labels.length) labels = this.#growLabels();
            labels[li + Lab.NameStart] = p + 4;
            labels[li + Lab.NameEnd] = vAt;
            labels[li + Lab.ValueStart] = vAt + 2;
            labels[li + Lab.ValueEnd] = p = vAt + 2 + v;
            labelCount++;
            if (n > maxNameLen) nameTooLong = true;
            if (v > maxValueLen) valueTooLong = true;
            continue;
          }
        }
      }
      if (tag < 0x80) p++;
      else {
        tag = readTag(buf, p, end, 'TimeSeries');
        p = next;
      }
      let len: number;
      if ((tag & 7) === Wire.Len) {
        if (p < end && (len = buf[p]!) < 0x80) p++;
        else {
          len = readLen(buf, p, end, tsFieldName(tag), at);
          p = next;
        }
        if (len > end - p) throw pastParent(tsFieldName(tag), len, end - p, at);
      } else {
        const field = tag >>> 3;
        if (field >= 1 && field <= 4) throw wrongWire(TS_WIRE_NAMES[field]!, tag, at);
        p = skipField(buf, p, end, tag, 'TimeSeries', at);
        continue;
      }
      const fieldEnd = p + len;

      if (tag === Tag.TsLabel) {
        let nameStart = p;
        let nameEnd = p;
        let valueStart = p;
        let valueEnd = p;
        while (p < fieldEnd) {
          const lat = p;
          let ltag = buf[p]!;
          if (ltag < 0x80) p++;
          else {
            ltag = readTag(buf, p, fieldEnd, 'Label');
            p = next;
          }
          if (ltag === Tag.LabelName || ltag === Tag.LabelValue) {
            let n: number;
            if (p < fieldEnd && (n = buf[p]!) < 0x80) p++;
            else {
              n = readLen(buf, p, fieldEnd, ltag === Tag.LabelName ? 'Label.name' : 'Label.value', lat);
              p = next;
            }
            if (n > fieldEnd - p) throw pastParent(ltag === Tag.LabelName ? 'Label.name' : 'Label.value', n, fieldEnd - p, lat);
            // Repeated occurrences of a singular field: the last one wins, as in every protobuf parser.
            if (ltag === Tag.LabelName) {
              nameStart = p;
              nameEnd = p + n;
            } else {
              valueStart = p;
              valueEnd = p + n;
            }
            p += n;
          } else {
            const field = ltag >>> 3;
            if (field === 1) throw wrongWire('Label.name', ltag, lat);
            if (field === 2) throw wrongWire('Label.value', ltag, lat);
            p = skipField(buf, p, fieldEnd, ltag, 'Label', lat);
          }
        }
        if (labelCount >= storeEnd) {
          extraLabels++;
          p = fieldEnd;
          continue;
        }
        const li = labelCount * Lab.Stride;
        if (li + Lab.Stride > labels.length) labels = this.#growLabels();
        labels[li + Lab.NameStart] = nameStart;
        labels[li + Lab.NameEnd] = nameEnd;
        labels[li + Lab.ValueStart] = valueStart;
        labels[li + Lab.ValueEnd] = valueEnd;
        labelCount++;
        if (nameEnd - nameStart > maxNameLen) nameTooLong = true;
        if (valueEnd - valueStart > maxValueLen) valueTooLong = true;
      } else if (tag === Tag.TsSample) {
        const ts = sampleTimestamp(buf, p, fieldEnd);
        if (ts < tsMin) tsMin = ts;
        if (ts > tsMax) tsMax = ts;
        samples++;
      } else if (tag === Tag.TsExemplar) {
        checkExemplar(buf, p, fieldEnd);
      } else if (tag === Tag.TsHistogram) {
        const ts = histogramTimestamp(buf, p, fieldEnd);
        if (ts < tsMin) tsMin = ts;
        if (ts > tsMax) tsMax = ts;
        histograms++;
      } else if (tag < 8) {
        throw bad('TimeSeries field number 0', at);
      }
      // Unknown length-delimited fields need no more than the bounds check above.
      p = fieldEnd;
    }
    const stored = labelCount - labelFirst;
    const count = stored + extraLabels;
    let drop: DropReason = DropReason.None;
    if (count > this.#maxLabels) drop = DropReason.TooManyLabels;
    else if (nameTooLong) drop = DropReason.LabelNameTooLong;
    else if (valueTooLong) drop = DropReason.LabelValueTooLong;

    this.#labelCount = labelCount;

    const s = this.#series;
    const si = this.#seriesCount * Ser.Stride;
    s[si + Ser.Start] = start;
    s[si + Ser.End] = end;
    s[si + Ser.LabelFirst] = labelFirst;
    s[si + Ser.LabelCount] = stored;
    s[si + Ser.SampleCount] = samples;
    s[si + Ser.HistogramCount] = histograms;
    s[si + Ser.Drop] = drop;
    this.#seriesCount++;

    if (drop !== DropReason.None) {
      this.#droppedSeries[drop]!++;
      // Histogram samples are samples too: an operator counting what was lost needs both.
      this.#droppedSamples += samples + histograms;
    } else {
      this.#sampleCount += samples;
      this.#histogramCount += histograms;
      if (tsMin < this.#minTs) this.#minTs = tsMin;
      if (tsMax > this.#maxTs) this.#maxTs = tsMax;
    }
  }

  /**
   * The index grows to the largest request seen; after an outlier (or an attack) it would
   * keep that memory forever. When the previous request used under a quarter of a large
   * index, start this one from a right-sized one.
   */
  #shrinkAfterOutlier(): void {
    const big = 1 << 20;
    if (this.#series.length > big && this.#seriesCount * Ser.Stride * 4 < this.#series.length) {
      this.#series = new Int32Array(Math.max(INITIAL_SERIES, this.#seriesCount * 2) * Ser.Stride);
    }
    if (this.#labels.length > big && this.#labelCount * Lab.Stride * 4 < this.#labels.length) {
      this.#labels = new Int32Array(Math.max(INITIAL_LABELS, this.#labelCount * 2) * Lab.Stride);
    }
  }

  #growSeries(): void {
    const grown = new Int32Array(this.#series.length * 2);
    grown.set(this.#series);
    this.#series = grown;
  }

  #growLabels() {
    const grown = new Int32Array(this.#labels.length * 2);
    grown.set(this.#labels);
    this.#labels = grown;
    return grown;
  }
}

function tsFieldName(tag: number): string {
  return ['TimeSeries field 0', 'Label', 'Sample', 'Exemplar', 'Histogram'][tag >>> 3] ?? `TimeSeries field ${tag >>> 3}`;
}
const TS_WIRE_NAMES = ['', 'TimeSeries.labels', 'TimeSeries.samples', 'TimeSeries.exemplars', 'TimeSeries.histograms'];

/** Walk one Sample and return its timestamp (0 when absent); the value is only bounds-checked. */
function sampleTimestamp(buf: Buffer, p: number, end: number): number {
  let ts = 0;
  while (p < end) {
    const at = p;
    let tag = buf[p]!;
    if (tag < 0x80) p++;
    else {
      tag = readTag(buf, p, end, 'Sample');
      p = next;
    }
    if (tag === Tag.SampleValue) {
      if (end - p < 8) throw bad('truncated fixed64 Sample.value', at);
      p += 8;
    } else if (tag === Tag.SampleTimestamp) {
      ts = readInt64(buf, p, end, 'Sample.timestamp');
      p = next;
    } else {
      const field = tag >>> 3;
      if (field === 1) throw wrongWire('Sample.value', tag, at);
      if (field === 2) throw wrongWire('Sample.timestamp', tag, at);
      p = skipField(buf, p, end, tag, 'Sample', at);
    }
  }
  return ts;
}

/** Exemplars are forwarded untouched, but checked so a bad one cannot poison a downstream batch. */
function checkExemplar(buf: Buffer, p: number, end: number): void {
  while (p < end) {
    const at = p;
    let tag = buf[p]!;
    if (tag < 0x80) p++;
    else {
      tag = readTag(buf, p, end, 'Exemplar');
      p = next;
    }
    if (tag === Tag.ExemplarLabel) {
      const len = readLen(buf, p, end, 'Exemplar.labels', at);
      p = next;
      checkLabel(buf, p, p + len);
      p += len;
    } else if (tag === Tag.ExemplarValue) {
      if (end - p < 8) throw bad('truncated fixed64 Exemplar.value', at);
      p += 8;
    } else if (tag === Tag.ExemplarTimestamp) {
      readInt64(buf, p, end, 'Exemplar.timestamp');
      p = next;
    } else {
      const field = tag >>> 3;
      if (field >= 1 && field <= 3) throw wrongWire(['', 'Exemplar.labels', 'Exemplar.value', 'Exemplar.timestamp'][field]!, tag, at);
      p = skipField(buf, p, end, tag, 'Exemplar', at);
    }
  }
}

/** The framing of a Label, without recording anything. */
function checkLabel(buf: Buffer, p: number, end: number): void {
  while (p < end) {
    const at = p;
    let tag = buf[p]!;
    if (tag < 0x80) p++;
    else {
      tag = readTag(buf, p, end, 'Label');
      p = next;
    }
    if (tag === Tag.LabelName || tag === Tag.LabelValue) {
      const len = readLen(buf, p, end, tag === Tag.LabelName ? 'Label.name' : 'Label.value', at);
      p = next + len;
    } else {
      const field = tag >>> 3;
      if (field === 1 || field === 2) throw wrongWire(field === 1 ? 'Label.name' : 'Label.value', tag, at);
      p = skipField(buf, p, end, tag, 'Label', at);
    }
  }
}

/**
 * Native histograms are forwarded as is; the walk checks their framing and returns the
 * timestamp (0 when absent) so a histogram-only series still has a time range.
 */
function histogramTimestamp(buf: Buffer, p: number, end: number): number {
  let ts = 0;
  while (p < end) {
    const at = p;
    let tag = buf[p]!;
    if (tag < 0x80) p++;
    else {
      tag = readTag(buf, p, end, 'Histogram');
      p = next;
    }
    if (tag === Tag.HistogramTimestamp) {
      ts = readInt64(buf, p, end, 'Histogram.timestamp');
      p = next;
    } else {
      if (tag >>> 3 === 15) throw wrongWire('Histogram.timestamp', tag, at);
      // Other histogram fields include repeated scalars that may come packed or not, so
      // only their framing is checked.
      p = skipField(buf, p, end, tag, 'Histogram', at);
    }
  }
  return ts;
}

/** Skip an unknown field by its wire type; returns the position after it. */
function skipField(buf: Buffer, p: number, end: number, tag: number, msg: string, at: number): number {
  if (tag < 8) throw bad(`${msg} field number 0`, at);
  switch (tag & 7) {
    case Wire.Varint:
      readVarint(buf, p, end, `${msg} field ${tag >>> 3}`);
      return next;
    case Wire.Fixed64:
      if (end - p < 8) throw bad(`truncated fixed64 ${msg} field ${tag >>> 3}`, at);
      return p + 8;
    case Wire.Len: {
      const len = readLen(buf, p, end, `${msg} field ${tag >>> 3}`, at);
      return next + len;
    }
    case Wire.Fixed32:
      if (end - p < 4) throw bad(`truncated fixed32 ${msg} field ${tag >>> 3}`, at);
      return p + 4;
    default:
      // Groups do not exist in proto3 and remote write never used them.
      throw bad(`${msg} field ${tag >>> 3} has unsupported ${WIRE_NAMES[tag & 7]}`, at);
  }
}

/** A field tag that did not fit in one byte: at most 32 bits, field number not 0. Sets `next`. */
function readTag(buf: Buffer, p: number, end: number, msg: string): number {
  const tag = readVarint(buf, p, end, `${msg} field tag`);
  if (tag > 0xffffffff) throw bad(`${msg} field tag exceeds 32 bits`, p);
  if (tag < 8) throw bad(`${msg} field number 0`, p);
  return tag >>> 0;
}

/** A length prefix at p that must fit inside [next, end) (the field's tag is at `at`). Sets `next`. */
function readLen(buf: Buffer, p: number, end: number, what: string, at: number): number {
  const len = readVarint(buf, p, end, `${what} length`);
  if (len > end - next) throw pastParent(what, len, end - next, at);
  return len;
}

function pastParent(what: string, len: number, left: number, at: number): SpillwayError {
  return bad(`${what} length ${len} runs past its parent (${left} bytes left)`, at);
}

/**
 * An unsigned varint of up to 10 bytes as a Number (exact up to 2^53; only compared with
 * bounds beyond that). Sets `next`.
 */
function readVarint(buf: Buffer, p: number, end: number, what: string): number {
  const start = p;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) throw bad(`truncated varint ${what}`, start);
    const b = buf[p++]!;
    if (i === 9 && b > 1) throw bad(b >= 0x80 ? `varint ${what} longer than 10 bytes` : `varint ${what} overflows 64 bits`, start);
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      next = p;
      return value;
    }
    scale *= 128;
  }
  throw bad(`varint ${what} longer than 10 bytes`, start);
}

/** A two's complement int64 varint (negative values take 10 bytes) as a Number. Sets `next`. */
function readInt64(buf: Buffer, p: number, end: number, what: string): number {
  const start = p;
  // Millisecond timestamps are 6 bytes; the low 28 bits are collected with int math.
  let lo = 0;
  let hi = 0;
  let b = 0;
  for (let i = 0; i < 4; i++) {
    if (p >= end) throw bad(`truncated varint ${what}`, start);
    b = buf[p++]!;
    lo |= (b & 0x7f) << (7 * i);
    if (b < 0x80) {
      next = p;
      return lo;
    }
  }
  if (p >= end) throw bad(`truncated varint ${what}`, start);
  b = buf[p++]!;
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x7f) >>> 4;
  if (b >= 0x80) {
    for (let i = 5; i < 10; i++) {
      if (p >= end) throw bad(`truncated varint ${what}`, start);
      b = buf[p++]!;
      if (i === 9 && b > 1) throw bad(b >= 0x80 ? `varint ${what} longer than 10 bytes` : `varint ${what} overflows 64 bits`, start);
      hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) break;
    }
  }
  next = p;
  return (hi | 0) * TWO_32 + (lo >>> 0);
}

// ---- Off the hot path: helpers for tests, tools and debugging. ----

/**
 * Call fn(value, timestampMs) for each float sample of one decoded series, in wire order.
 * Re-walks the series bytes, which decode() already validated.
 */
export function forEachSample(view: WriteRequestView, seriesIndex: number, fn: (value: number, timestampMs: number) => void): void {
  const buf = view.buf;
  const si = seriesIndex * SERIES_STRIDE;
  const end = view.series[si + S_END]!;
  let p = readField(buf, view.series[si + S_START]!).dataStart;
  while (p < end) {
    const r = readField(buf, p);
    if (r.tag === Tag.TsSample) {
      let value = 0;
      let ts = 0;
      let q = r.dataStart;
      while (q < r.next) {
        const f = readField(buf, q);
        if (f.tag === Tag.SampleValue) value = buf.readDoubleLE(f.dataStart);
        else if (f.tag === Tag.SampleTimestamp) ts = Number(BigInt.asIntN(64, f.varint));
        q = f.next;
      }
      fn(value, ts);
    }
    p = r.next;
  }
}

/** One series as strings and numbers (UTF-8 decoded; invalid bytes become U+FFFD). */
export function seriesToObject(
  view: WriteRequestView,
  seriesIndex: number,
): { labels: [string, string][]; samples: [number, number][]; histograms: number; drop: DropReason } {
  const si = seriesIndex * SERIES_STRIDE;
  const first = view.series[si + S_LABEL_FIRST]!;
  const count = view.series[si + S_LABEL_COUNT]!;
  const labels: [string, string][] = [];
  for (let i = first; i < first + count; i++) {
    const li = i * LABEL_STRIDE;
    const l = view.labels;
    labels.push([
      view.buf.toString('utf8', l[li + L_NAME_START]!, l[li + L_NAME_END]!),
      view.buf.toString('utf8', l[li + L_VALUE_START]!, l[li + L_VALUE_END]!),
    ]);
  }
  const samples: [number, number][] = [];
  forEachSample(view, seriesIndex, (v, t) => samples.push([v, t]));
  return { labels, samples, histograms: view.series[si + S_HISTOGRAM_COUNT]!, drop: view.series[si + S_DROP]! as DropReason };
}

// Generic field reader for the helpers above; trusts that decode() validated the bytes.
function readField(buf: Buffer, p: number): { tag: number; dataStart: number; next: number; varint: bigint } {
  let tag = 0;
  let shift = 0;
  let b: number;
  do {
    b = buf[p++]!;
    tag += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b >= 0x80);
  const wire = tag & 7;
  let varint = 0n;
  let dataStart = p;
  let next = p;
  if (wire === Wire.Varint || wire === Wire.Len) {
    let s = 0n;
    do {
      b = buf[p++]!;
      varint |= BigInt(b & 0x7f) << s;
      s += 7n;
    } while (b >= 0x80);
    dataStart = p;
    next = wire === Wire.Len ? p + Number(varint) : p;
  } else if (wire === Wire.Fixed64) next = p + 8;
  else if (wire === Wire.Fixed32) next = p + 4;
  return { tag: tag >>> 0, dataStart, next, varint };
}
