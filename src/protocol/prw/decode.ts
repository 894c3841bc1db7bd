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
const TAG_WR_TIMESERIES = 0x0a; // WriteRequest.timeseries = 1, len
const TAG_WR_METADATA = 0x1a; // WriteRequest.metadata = 3, len
const TAG_TS_LABEL = 0x0a; // TimeSeries.labels = 1, len
const TAG_TS_SAMPLE = 0x12; // TimeSeries.samples = 2, len
const TAG_TS_EXEMPLAR = 0x1a; // TimeSeries.exemplars = 3, len
const TAG_TS_HISTOGRAM = 0x22; // TimeSeries.histograms = 4, len
const TAG_LABEL_NAME = 0x0a; // Label.name = 1, len
const TAG_LABEL_VALUE = 0x12; // Label.value = 2, len
const TAG_SAMPLE_VALUE = 0x09; // Sample.value = 1, fixed64
const TAG_SAMPLE_TIMESTAMP = 0x10; // Sample.timestamp = 2, varint
const TAG_EXEMPLAR_LABEL = 0x0a; // Exemplar.labels = 1, len
const TAG_EXEMPLAR_VALUE = 0x11; // Exemplar.value = 2, fixed64
const TAG_EXEMPLAR_TIMESTAMP = 0x18; // Exemplar.timestamp = 3, varint
const TAG_HISTOGRAM_TIMESTAMP = 0x78; // Histogram.timestamp = 15, varint

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;
const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'wire type 6', 'wire type 7'];

const OVER_NAME = 1;
const OVER_VALUE = 2;

const TWO_32 = 4294967296;
const INITIAL_SERIES = 1024;
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

export class PrwDecoder {
  readonly #maxLabels: number;
  readonly #maxNameLen: number;
  readonly #maxValueLen: number;

  #series = new Int32Array(INITIAL_SERIES * SERIES_STRIDE);
  #labels = new Int32Array(INITIAL_LABELS * LABEL_STRIDE);
  #seriesCount = 0;
  #labelCount = 0;
  // Position just past the varint read by the last #varint/#int64 call.
  #next = 0;

  // Running totals of the current decode().
  #sampleCount = 0;
  #histogramCount = 0;
  #droppedSamples = 0;
  #minTs = Infinity;
  #maxTs = -Infinity;
  #metadataCount = 0;
  readonly #droppedSeries = new Uint32Array(4);

  // Per-series scratch written by #sample/#histogram while a TimeSeries is walked.
  #tsMin = Infinity;
  #tsMax = -Infinity;

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
    this.#seriesCount = 0;
    this.#labelCount = 0;
    this.#sampleCount = 0;
    this.#histogramCount = 0;
    this.#droppedSamples = 0;
    this.#minTs = Infinity;
    this.#maxTs = -Infinity;
    this.#metadataCount = 0;
    this.#droppedSeries.fill(0);

    let p = 0;
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'WriteRequest');
        p = this.#next;
      }
      if (tag === TAG_WR_TIMESERIES) {
        const len = this.#len(buf, p, end, 'WriteRequest.timeseries', at);
        p = this.#next;
        this.#timeSeries(buf, at, p, p + len);
        p += len;
      } else if (tag === TAG_WR_METADATA) {
        const len = this.#len(buf, p, end, 'WriteRequest.metadata', at);
        p = this.#next + len;
        this.#metadataCount++;
      } else {
        const field = tag >>> 3;
        if (field === 1) throw wrongWire('WriteRequest.timeseries', tag, at);
        if (field === 3) throw wrongWire('WriteRequest.metadata', tag, at);
        p = this.#skip(buf, p, end, tag, 'WriteRequest', at);
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
    v.metadataCount = this.#metadataCount;
    return v;
  }

  /** Walk one TimeSeries (body [p, end), field tag at `start`) and record it. */
  #timeSeries(buf: Buffer, start: number, p: number, end: number): void {
    if ((this.#seriesCount + 1) * SERIES_STRIDE > this.#series.length) this.#growSeries();
    const labelFirst = this.#labelCount;
    let samples = 0;
    let histograms = 0;
    let nameTooLong = false;
    let valueTooLong = false;
    this.#tsMin = Infinity;
    this.#tsMax = -Infinity;

    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'TimeSeries');
        p = this.#next;
      }
      switch (tag) {
        case TAG_TS_LABEL: {
          const len = this.#len(buf, p, end, 'Label', at);
          p = this.#next;
          const over = this.#label(buf, p, p + len);
          if (over & OVER_NAME) nameTooLong = true;
          if (over & OVER_VALUE) valueTooLong = true;
          p += len;
          break;
        }
        case TAG_TS_SAMPLE: {
          const len = this.#len(buf, p, end, 'Sample', at);
          p = this.#next;
          this.#sample(buf, p, p + len);
          p += len;
          samples++;
          break;
        }
        case TAG_TS_EXEMPLAR: {
          const len = this.#len(buf, p, end, 'Exemplar', at);
          p = this.#next;
          this.#exemplar(buf, p, p + len);
          p += len;
          break;
        }
        case TAG_TS_HISTOGRAM: {
          const len = this.#len(buf, p, end, 'Histogram', at);
          p = this.#next;
          this.#histogram(buf, p, p + len);
          p += len;
          histograms++;
          break;
        }
        default: {
          const field = tag >>> 3;
          if (field >= 1 && field <= 4) {
            throw wrongWire(['', 'TimeSeries.labels', 'TimeSeries.samples', 'TimeSeries.exemplars', 'TimeSeries.histograms'][field]!, tag, at);
          }
          p = this.#skip(buf, p, end, tag, 'TimeSeries', at);
        }
      }
    }

    const labelCount = this.#labelCount - labelFirst;
    let drop: DropReason = DropReason.None;
    if (labelCount > this.#maxLabels) drop = DropReason.TooManyLabels;
    else if (nameTooLong) drop = DropReason.LabelNameTooLong;
    else if (valueTooLong) drop = DropReason.LabelValueTooLong;

    const s = this.#series;
    const si = this.#seriesCount * SERIES_STRIDE;
    s[si + S_START] = start;
    s[si + S_END] = end;
    s[si + S_LABEL_FIRST] = labelFirst;
    s[si + S_LABEL_COUNT] = labelCount;
    s[si + S_SAMPLE_COUNT] = samples;
    s[si + S_HISTOGRAM_COUNT] = histograms;
    s[si + S_DROP] = drop;
    this.#seriesCount++;

    if (drop !== DropReason.None) {
      this.#droppedSeries[drop]!++;
      // Histogram samples are samples too: an operator counting what was lost needs both.
      this.#droppedSamples += samples + histograms;
    } else {
      this.#sampleCount += samples;
      this.#histogramCount += histograms;
      if (this.#tsMin < this.#minTs) this.#minTs = this.#tsMin;
      if (this.#tsMax > this.#maxTs) this.#maxTs = this.#tsMax;
    }
  }

  /**
   * Walk one Label and append its name and value ranges (absent fields are empty ranges).
   * Returns which length limits it breaks (OVER_NAME | OVER_VALUE).
   */
  #label(buf: Buffer, p: number, end: number): number {
    let nameStart = p;
    let nameEnd = p;
    let valueStart = p;
    let valueEnd = p;
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'Label');
        p = this.#next;
      }
      if (tag === TAG_LABEL_NAME) {
        const len = this.#len(buf, p, end, 'Label.name', at);
        // Repeated occurrences of a singular field: the last one wins, as in every protobuf parser.
        nameStart = this.#next;
        nameEnd = p = nameStart + len;
      } else if (tag === TAG_LABEL_VALUE) {
        const len = this.#len(buf, p, end, 'Label.value', at);
        valueStart = this.#next;
        valueEnd = p = valueStart + len;
      } else {
        const field = tag >>> 3;
        if (field === 1) throw wrongWire('Label.name', tag, at);
        if (field === 2) throw wrongWire('Label.value', tag, at);
        p = this.#skip(buf, p, end, tag, 'Label', at);
      }
    }
    if ((this.#labelCount + 1) * LABEL_STRIDE > this.#labels.length) this.#growLabels();
    const l = this.#labels;
    const li = this.#labelCount * LABEL_STRIDE;
    l[li + L_NAME_START] = nameStart;
    l[li + L_NAME_END] = nameEnd;
    l[li + L_VALUE_START] = valueStart;
    l[li + L_VALUE_END] = valueEnd;
    this.#labelCount++;
    return (nameEnd - nameStart > this.#maxNameLen ? OVER_NAME : 0) | (valueEnd - valueStart > this.#maxValueLen ? OVER_VALUE : 0);
  }

  /** Walk one Sample; only its timestamp is needed here (for min/max). */
  #sample(buf: Buffer, p: number, end: number): void {
    let ts = 0;
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'Sample');
        p = this.#next;
      }
      if (tag === TAG_SAMPLE_VALUE) {
        if (end - p < 8) throw bad('truncated fixed64 Sample.value', at);
        p += 8;
      } else if (tag === TAG_SAMPLE_TIMESTAMP) {
        ts = this.#int64(buf, p, end, 'Sample.timestamp');
        p = this.#next;
      } else {
        const field = tag >>> 3;
        if (field === 1) throw wrongWire('Sample.value', tag, at);
        if (field === 2) throw wrongWire('Sample.timestamp', tag, at);
        p = this.#skip(buf, p, end, tag, 'Sample', at);
      }
    }
    if (ts < this.#tsMin) this.#tsMin = ts;
    if (ts > this.#tsMax) this.#tsMax = ts;
  }

  /** Exemplars are forwarded untouched, but checked so a bad one cannot poison a downstream batch. */
  #exemplar(buf: Buffer, p: number, end: number): void {
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'Exemplar');
        p = this.#next;
      }
      if (tag === TAG_EXEMPLAR_LABEL) {
        const len = this.#len(buf, p, end, 'Exemplar.labels', at);
        p = this.#next;
        this.#checkLabel(buf, p, p + len);
        p += len;
      } else if (tag === TAG_EXEMPLAR_VALUE) {
        if (end - p < 8) throw bad('truncated fixed64 Exemplar.value', at);
        p += 8;
      } else if (tag === TAG_EXEMPLAR_TIMESTAMP) {
        this.#int64(buf, p, end, 'Exemplar.timestamp');
        p = this.#next;
      } else {
        const field = tag >>> 3;
        if (field >= 1 && field <= 3) throw wrongWire(['', 'Exemplar.labels', 'Exemplar.value', 'Exemplar.timestamp'][field]!, tag, at);
        p = this.#skip(buf, p, end, tag, 'Exemplar', at);
      }
    }
  }

  /** Like #label, without recording anything. */
  #checkLabel(buf: Buffer, p: number, end: number): void {
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'Label');
        p = this.#next;
      }
      if (tag === TAG_LABEL_NAME || tag === TAG_LABEL_VALUE) {
        const len = this.#len(buf, p, end, tag === TAG_LABEL_NAME ? 'Label.name' : 'Label.value', at);
        p = this.#next + len;
      } else {
        const field = tag >>> 3;
        if (field === 1 || field === 2) throw wrongWire(field === 1 ? 'Label.name' : 'Label.value', tag, at);
        p = this.#skip(buf, p, end, tag, 'Label', at);
      }
    }
  }

  /**
   * Native histograms are forwarded as is; the walk checks their framing and reads the
   * timestamp so a histogram-only series still has a time range.
   */
  #histogram(buf: Buffer, p: number, end: number): void {
    let ts = 0;
    while (p < end) {
      const at = p;
      let tag = buf[p]!;
      if (tag < 0x80) p++;
      else {
        tag = this.#tag(buf, p, end, 'Histogram');
        p = this.#next;
      }
      if (tag === TAG_HISTOGRAM_TIMESTAMP) {
        ts = this.#int64(buf, p, end, 'Histogram.timestamp');
        p = this.#next;
      } else {
        if (tag >>> 3 === 15) throw wrongWire('Histogram.timestamp', tag, at);
        // Other histogram fields include repeated scalars that may come packed or not, so
        // only their framing is checked.
        p = this.#skip(buf, p, end, tag, 'Histogram', at);
      }
    }
    if (ts < this.#tsMin) this.#tsMin = ts;
    if (ts > this.#tsMax) this.#tsMax = ts;
  }

  /** Skip an unknown field by its wire type; returns the position after it. */
  #skip(buf: Buffer, p: number, end: number, tag: number, msg: string, at: number): number {
    if (tag < 8) throw bad(`${msg} field number 0`, at);
    switch (tag & 7) {
      case WIRE_VARINT:
        this.#varint(buf, p, end, `${msg} field ${tag >>> 3}`);
        return this.#next;
      case WIRE_FIXED64:
        if (end - p < 8) throw bad(`truncated fixed64 ${msg} field ${tag >>> 3}`, at);
        return p + 8;
      case WIRE_LEN: {
        const len = this.#len(buf, p, end, `${msg} field ${tag >>> 3}`, at);
        return this.#next + len;
      }
      case WIRE_FIXED32:
        if (end - p < 4) throw bad(`truncated fixed32 ${msg} field ${tag >>> 3}`, at);
        return p + 4;
      default:
        // Groups do not exist in proto3 and remote write never used them.
        throw bad(`${msg} field ${tag >>> 3} has unsupported ${WIRE_NAMES[tag & 7]}`, at);
    }
  }

  /** A field tag that did not fit in one byte: at most 32 bits, field number not 0. */
  #tag(buf: Buffer, p: number, end: number, msg: string): number {
    const tag = this.#varint(buf, p, end, `${msg} field tag`);
    if (tag > 0xffffffff) throw bad(`${msg} field tag exceeds 32 bits`, p);
    if (tag < 8) throw bad(`${msg} field number 0`, p);
    // Field numbers above 2^28 make tag >>> 3 still exact since tag < 2^32.
    return tag >>> 0;
  }

  /** A length prefix at p that must fit inside [#next, end). */
  #len(buf: Buffer, p: number, end: number, what: string, at: number): number {
    let len: number;
    if (p < end && buf[p]! < 0x80) {
      len = buf[p]!;
      this.#next = p + 1;
    } else {
      len = this.#varint(buf, p, end, `${what} length`);
    }
    if (len > end - this.#next) {
      throw bad(`${what} length ${len} runs past its parent (${end - this.#next} bytes left)`, at);
    }
    return len;
  }

  /**
   * An unsigned varint of up to 10 bytes as a Number (exact up to 2^53; only compared with
   * bounds beyond that). Sets #next.
   */
  #varint(buf: Buffer, p: number, end: number, what: string): number {
    const start = p;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) throw bad(`truncated varint ${what}`, start);
      const b = buf[p++]!;
      if (i === 9 && b > 1) throw bad(b >= 0x80 ? `varint ${what} longer than 10 bytes` : `varint ${what} overflows 64 bits`, start);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.#next = p;
        return value;
      }
      scale *= 128;
    }
    throw bad(`varint ${what} longer than 10 bytes`, start);
  }

  /** A two's complement int64 varint (negative values take 10 bytes) as a Number. Sets #next. */
  #int64(buf: Buffer, p: number, end: number, what: string): number {
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
        this.#next = p;
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
    this.#next = p;
    return (hi | 0) * TWO_32 + (lo >>> 0);
  }

  #growSeries(): void {
    const next = new Int32Array(this.#series.length * 2);
    next.set(this.#series);
    this.#series = next;
  }

  #growLabels(): void {
    const next = new Int32Array(this.#labels.length * 2);
    next.set(this.#labels);
    this.#labels = next;
  }
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
    if (r.tag === TAG_TS_SAMPLE) {
      let value = 0;
      let ts = 0;
      let q = r.dataStart;
      while (q < r.next) {
        const f = readField(buf, q);
        if (f.tag === TAG_SAMPLE_VALUE) value = buf.readDoubleLE(f.dataStart);
        else if (f.tag === TAG_SAMPLE_TIMESTAMP) ts = Number(BigInt.asIntN(64, f.varint));
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
  if (wire === WIRE_VARINT || wire === WIRE_LEN) {
    let s = 0n;
    do {
      b = buf[p++]!;
      varint |= BigInt(b & 0x7f) << s;
      s += 7n;
    } while (b >= 0x80);
    dataStart = p;
    next = wire === WIRE_LEN ? p + Number(varint) : p;
  } else if (wire === WIRE_FIXED64) next = p + 8;
  else if (wire === WIRE_FIXED32) next = p + 4;
  return { tag: tag >>> 0, dataStart, next, varint };
}
