// Prometheus remote-write 2.0 (io.prometheus.write.v2.Request) to a remote-write 1.0
// WriteRequest, by copying bytes: no strings, no objects.
//
// A 2.0 series names its labels by index into the request's symbol table; a 1.0 series
// carries them inline. The converter records the symbol table as byte ranges of the body,
// then writes each 2.0 series as one 1.0 TimeSeries:
//   labels     from the symbol ranges its label refs point at;
//   samples    copied as they are (Sample has the same fields in both versions);
//   histograms copied as they are (Histogram has the same field numbers and types);
//   exemplars  labels resolved from refs like series labels, value and timestamp copied.
// Not representable in 1.0 and therefore not forwarded, only counted: per-series metadata
// (1.0 carries metadata per metric family, in separate requests) and created timestamps.
//
// The output feeds the same pipeline as a 1.0 body (PrwDecoder, Splitter, spool), which
// validates the copied samples, histograms and exemplars on its own pass.
//
// Untrusted input: every length is checked against its parent before use, every ref
// against the symbol table, and the output (which label refs can make much larger than the
// input, by naming one long symbol many times) is capped before it grows past the limit.
import { SpillwayError } from '../../errors.js';

const enum Tag {
  ReqSymbols = 0x22, // Request.symbols = 4, len
  ReqTimeseries = 0x2a, // Request.timeseries = 5, len
  TsLabelRefsPacked = 0x0a, // TimeSeries.labels_refs = 1, len (packed)
  TsLabelRef = 0x08, // TimeSeries.labels_refs = 1, varint (unpacked)
  TsSample = 0x12, // TimeSeries.samples = 2, len
  TsHistogram = 0x1a, // TimeSeries.histograms = 3, len
  TsExemplar = 0x22, // TimeSeries.exemplars = 4, len
  TsMetadata = 0x2a, // TimeSeries.metadata = 5, len
  TsCreated = 0x30, // TimeSeries.created_timestamp = 6, varint
  ExLabelRefsPacked = 0x0a, // Exemplar.labels_refs = 1, len
  ExLabelRef = 0x08, // Exemplar.labels_refs = 1, varint
  MdType = 0x08, // Metadata.type = 1
  MdHelp = 0x18, // Metadata.help_ref = 3
  MdUnit = 0x20, // Metadata.unit_ref = 4
  // 1.0 output tags
  V1Timeseries = 0x0a,
  V1Label = 0x0a,
  V1LabelName = 0x0a,
  V1LabelValue = 0x12,
  V1Sample = 0x12,
  V1Exemplar = 0x1a,
  V1Histogram = 0x22,
}

const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'start-group', 'end-group', 'fixed32', 'wire type 6', 'wire type 7'];

// Kinds of the per-series parts recorded before writing.
const enum Part {
  Sample = 0,
  Histogram = 1,
  Exemplar = 2,
}

function bad(what: string, offset: number): SpillwayError {
  return new SpillwayError('SPW_ERR_BAD_PRW2', `${what} at offset ${offset}`);
}

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

// Position just past the last varint read (decoding is synchronous, see prw/decode.ts).
let next = 0;

/** Unsigned varint of up to 10 bytes as a Number (exact up to 2^53). Sets `next`. */
function readVarint(buf: Buffer, p: number, end: number, what: string): number {
  const start = p;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) throw bad(`truncated varint ${what}`, start);
    const b = buf[p++]!;
    if (i === 9 && b > 1) throw bad(`varint ${what} overflows 64 bits`, start);
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      next = p;
      return value;
    }
    scale *= 128;
  }
  throw bad(`varint ${what} longer than 10 bytes`, start);
}

/** A field tag: at most 32 bits, field number not 0. Sets `next`. */
function readTag(buf: Buffer, p: number, end: number, msg: string): number {
  const b = buf[p]!;
  if (b < 0x80) {
    if (b < 8) throw bad(`${msg} field number 0`, p);
    next = p + 1;
    return b;
  }
  const tag = readVarint(buf, p, end, `${msg} field tag`);
  if (tag > 0xffffffff) throw bad(`${msg} field tag exceeds 32 bits`, p);
  if (tag < 8) throw bad(`${msg} field number 0`, p);
  return tag >>> 0;
}

/** A length prefix whose field must fit in [next, end). Sets `next` to the field's first byte. */
function readLen(buf: Buffer, p: number, end: number, what: string, at: number): number {
  const b = buf[p];
  let len: number;
  if (p < end && b! < 0x80) {
    len = b!;
    next = p + 1;
  } else len = readVarint(buf, p, end, `${what} length`);
  if (len > end - next) throw bad(`${what} length ${len} runs past its parent (${end - next} bytes left)`, at);
  return len;
}

/** Skip an unknown field by its wire type; returns the position after it. */
function skipField(buf: Buffer, p: number, end: number, tag: number, msg: string, at: number): number {
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
      throw bad(`${msg} field ${tag >>> 3} has unsupported ${WIRE_NAMES[tag & 7]}`, at);
  }
}

/** What one convert() saw and did. */
export interface Prw2Stats {
  /** TimeSeries in the 2.0 request. */
  series: number;
  /** 1.0 TimeSeries written (series with nothing to forward are not written). */
  convertedSeries: number;
  samples: number;
  histograms: number;
  exemplars: number;
  /** Series whose metadata (type, help, unit) was not forwarded. */
  metadataDropped: number;
  /** Series whose created timestamp was not forwarded. */
  createdTimestampsDropped: number;
  symbols: number;
}

export interface Prw2ConverterOptions {
  /** Largest 1.0 WriteRequest to produce (-maxInsertRequestSize); past it SPW_ERR_DECOMPRESSED_TOO_LARGE. */
  maxOutputBytes: number;
}

export class Prw2Converter {
  readonly #max: number;
  #out: Buffer;
  #pos = 0;
  /** Symbol i is body[#symbols[2i], #symbols[2i+1]). */
  #symbols = new Int32Array(2 * 1024);
  #symbolCount = 0;
  #series = new Int32Array(2 * 1024);
  #seriesCount = 0;
  /** Label refs of the series being converted. */
  #refs = new Uint32Array(256);
  /** Parts of the series being converted: kind, start, end (the message bytes) per part. */
  #parts = new Int32Array(3 * 64);
  /** Exemplar label refs, all exemplars of the series one after the other. */
  #exRefs = new Uint32Array(64);
  /** Per exemplar part: first ref, ref count, and the 1.0 message length. */
  #exInfo = new Int32Array(3 * 16);
  /** Exemplars of each written 1.0 series, by output index (for accounting after limits). */
  #exemplarsPerSeries = new Int32Array(1024);
  /** 2.0 series index and output offset of each written 1.0 series (for error messages). */
  #sourceIndex = new Int32Array(1024);
  #outStart = new Int32Array(1024);

  readonly stats: Prw2Stats = {
    series: 0,
    convertedSeries: 0,
    samples: 0,
    histograms: 0,
    exemplars: 0,
    metadataDropped: 0,
    createdTimestampsDropped: 0,
    symbols: 0,
  };

  constructor(opts: Prw2ConverterOptions) {
    this.#max = opts.maxOutputBytes > 0 && Number.isFinite(opts.maxOutputBytes) ? Math.min(opts.maxOutputBytes, 0x7fffffff) : 0x7fffffff;
    this.#out = Buffer.allocUnsafeSlow(64 * 1024);
  }

  /** Exemplars written for 1.0 series `i` of the last convert(). */
  exemplarsOf(i: number): number {
    return this.#exemplarsPerSeries[i]!;
  }

  /** Index in the 2.0 request of 1.0 series `i` of the last convert(). */
  sourceSeriesOf(i: number): number {
    return this.#sourceIndex[i]!;
  }

  /** Index in the 2.0 request of the series whose 1.0 form holds byte `offset` of the output; -1 if none. */
  sourceSeriesAt(offset: number): number {
    let lo = 0;
    let hi = this.stats.convertedSeries - 1;
    if (hi < 0 || offset < 0) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#outStart[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return this.#sourceIndex[lo]!;
  }

  /**
   * Convert one uncompressed 2.0 Request. Returns a 1.0 WriteRequest that is a view into this
   * converter's buffer: valid until the next convert() call. Throws SPW_ERR_BAD_PRW2
   * (what and where), or SPW_ERR_DECOMPRESSED_TOO_LARGE when the 1.0 form exceeds the limit.
   */
  convert(buf: Buffer): Buffer {
    const end = buf.length;
    if (end > 0x7fffffff) throw bad(`body of ${end} bytes is larger than 2 GiB`, 0);
    const st = this.stats;
    st.series = st.convertedSeries = st.samples = st.histograms = st.exemplars = 0;
    st.metadataDropped = st.createdTimestampsDropped = 0;
    this.#symbolCount = 0;
    this.#seriesCount = 0;
    this.#pos = 0;
    let reserved = -1;

    // Pass 1: symbols and series ranges. Symbols may come after the series that use them.
    let p = 0;
    while (p < end) {
      const at = p;
      const tag = readTag(buf, p, end, 'Request');
      p = next;
      if (tag === Tag.ReqSymbols || tag === Tag.ReqTimeseries) {
        const len = readLen(buf, p, end, tag === Tag.ReqSymbols ? 'Request.symbols' : 'Request.timeseries', at);
        p = next;
        if (tag === Tag.ReqSymbols) {
          if (2 * this.#symbolCount + 2 > this.#symbols.length) this.#symbols = grow(this.#symbols);
          this.#symbols[2 * this.#symbolCount] = p;
          this.#symbols[2 * this.#symbolCount + 1] = p + len;
          this.#symbolCount++;
        } else {
          if (2 * this.#seriesCount + 2 > this.#series.length) this.#series = grow(this.#series);
          this.#series[2 * this.#seriesCount] = p;
          this.#series[2 * this.#seriesCount + 1] = p + len;
          this.#seriesCount++;
        }
        p += len;
      } else {
        const field = tag >>> 3;
        if (field === 4) throw bad(`Request.symbols has wire type ${WIRE_NAMES[tag & 7]}`, at);
        if (field === 5) throw bad(`Request.timeseries has wire type ${WIRE_NAMES[tag & 7]}`, at);
        if (field >= 1 && field <= 3 && reserved < 0) reserved = at;
        p = skipField(buf, p, end, tag, 'Request', at);
      }
    }
    st.symbols = this.#symbolCount;
    st.series = this.#seriesCount;
    if (this.#seriesCount === 0 && reserved >= 0) {
      // Fields 1-3 are reserved in 2.0 precisely so that this mistake is recognisable.
      throw bad('fields of a remote-write 1.0 WriteRequest in a request labelled 2.0 (Content-Type proto=io.prometheus.write.v2.Request)', reserved);
    }

    // Pass 2: one 1.0 TimeSeries per 2.0 series that has something to forward.
    this.#ensure(Math.min(this.#max, end * 2 + 1024), 0);
    for (let i = 0; i < this.#seriesCount; i++) this.#convertSeries(buf, i, this.#series[2 * i]!, this.#series[2 * i + 1]!);
    return this.#out.subarray(0, this.#pos);
  }

  #convertSeries(buf: Buffer, index: number, p: number, end: number): void {
    const st = this.stats;
    const symbolCount = this.#symbolCount;
    let refs = this.#refs;
    let refCount = 0;
    let partCount = 0;
    let exRefCount = 0;
    let exCount = 0;
    let samples = 0;
    let histograms = 0;

    while (p < end) {
      const at = p;
      const tag = readTag(buf, p, end, 'TimeSeries');
      p = next;
      switch (tag) {
        case Tag.TsLabelRefsPacked: {
          const len = readLen(buf, p, end, 'TimeSeries.labels_refs', at);
          p = next;
          const fieldEnd = p + len;
          while (p < fieldEnd) {
            let ref = buf[p]!;
            if (ref < 0x80) p++;
            else {
              ref = readVarint(buf, p, fieldEnd, 'TimeSeries.labels_refs');
              p = next;
            }
            if (ref >= symbolCount) throw bad(`label ref ${ref} is past the ${symbolCount} symbols`, at);
            if (refCount === refs.length) refs = this.#refs = growU32(refs);
            refs[refCount++] = ref;
          }
          break;
        }
        case Tag.TsLabelRef: {
          const ref = readVarint(buf, p, end, 'TimeSeries.labels_refs');
          p = next;
          if (ref >= symbolCount) throw bad(`label ref ${ref} is past the ${symbolCount} symbols`, at);
          if (refCount === refs.length) refs = this.#refs = growU32(refs);
          refs[refCount++] = ref;
          break;
        }
        case Tag.TsSample:
        case Tag.TsHistogram: {
          const len = readLen(buf, p, end, tag === Tag.TsSample ? 'TimeSeries.samples' : 'TimeSeries.histograms', at);
          p = next;
          if (3 * partCount + 3 > this.#parts.length) this.#parts = grow(this.#parts);
          this.#parts[3 * partCount] = tag === Tag.TsSample ? Part.Sample : Part.Histogram;
          this.#parts[3 * partCount + 1] = p;
          this.#parts[3 * partCount + 2] = p + len;
          partCount++;
          if (tag === Tag.TsSample) samples++;
          else histograms++;
          p += len;
          break;
        }
        case Tag.TsExemplar: {
          const len = readLen(buf, p, end, 'TimeSeries.exemplars', at);
          p = next;
          if (3 * partCount + 3 > this.#parts.length) this.#parts = grow(this.#parts);
          this.#parts[3 * partCount] = Part.Exemplar;
          this.#parts[3 * partCount + 1] = p;
          this.#parts[3 * partCount + 2] = p + len;
          partCount++;
          // Resolve the exemplar's label refs now; they set the size of its 1.0 form.
          if (3 * exCount + 3 > this.#exInfo.length) this.#exInfo = grow(this.#exInfo);
          const first = exRefCount;
          exRefCount = this.#exemplar(buf, p, p + len, first);
          const n = exRefCount - first;
          if (n % 2 !== 0) throw bad(`exemplar has an odd number (${n}) of label refs`, at);
          this.#exInfo[3 * exCount] = first;
          this.#exInfo[3 * exCount + 1] = n;
          this.#exInfo[3 * exCount + 2] = this.#labelsSize(this.#exRefs, first, n) + otherFieldsSize(buf, p, p + len);
          exCount++;
          p += len;
          break;
        }
        case Tag.TsMetadata: {
          const len = readLen(buf, p, end, 'TimeSeries.metadata', at);
          p = next;
          if (metadataPresent(buf, p, p + len)) st.metadataDropped++;
          p += len;
          break;
        }
        case Tag.TsCreated: {
          const v = readVarint(buf, p, end, 'TimeSeries.created_timestamp');
          p = next;
          if (v !== 0) st.createdTimestampsDropped++;
          break;
        }
        default: {
          const field = tag >>> 3;
          if (field >= 1 && field <= 6) throw bad(`TimeSeries field ${field} has wire type ${WIRE_NAMES[tag & 7]}`, at);
          p = skipField(buf, p, end, tag, 'TimeSeries', at);
        }
      }
    }
    if (refCount % 2 !== 0) throw bad(`series has an odd number (${refCount}) of label refs`, this.#series[2 * index]!);
    if (partCount === 0) return; // metadata or labels alone: nothing 1.0 can carry

    // Size of the 1.0 TimeSeries body, so its length prefix is written first.
    let body = this.#labelsSize(refs, 0, refCount);
    const parts = this.#parts;
    let ex = 0;
    for (let k = 0; k < partCount; k++) {
      const kind = parts[3 * k]!;
      const len = kind === Part.Exemplar ? this.#exInfo[3 * ex++ + 2]! : parts[3 * k + 2]! - parts[3 * k + 1]!;
      body += 1 + varintSize(len) + len;
    }
    this.#ensure(this.#pos + 1 + varintSize(body) + body, index);

    const out = this.#out;
    let o = this.#pos;
    const outStart = o;
    out[o++] = Tag.V1Timeseries;
    o = putVarint(out, o, body);
    o = this.#writeLabels(buf, out, o, refs, 0, refCount);
    // 1.0 field order: samples (2), exemplars (3), histograms (4); each kind keeps its order.
    for (let k = 0; k < partCount; k++) {
      if (parts[3 * k] !== Part.Sample) continue;
      o = copyField(buf, out, o, Tag.V1Sample, parts[3 * k + 1]!, parts[3 * k + 2]!);
    }
    ex = 0;
    for (let k = 0; k < partCount; k++) {
      if (parts[3 * k] !== Part.Exemplar) continue;
      const info = this.#exInfo;
      out[o++] = Tag.V1Exemplar;
      o = putVarint(out, o, info[3 * ex + 2]!);
      o = this.#writeLabels(buf, out, o, this.#exRefs, info[3 * ex]!, info[3 * ex + 1]!);
      o = copyOtherFields(buf, out, o, parts[3 * k + 1]!, parts[3 * k + 2]!);
      ex++;
    }
    for (let k = 0; k < partCount; k++) {
      if (parts[3 * k] !== Part.Histogram) continue;
      o = copyField(buf, out, o, Tag.V1Histogram, parts[3 * k + 1]!, parts[3 * k + 2]!);
    }
    this.#pos = o;

    const w = st.convertedSeries++;
    if (w >= this.#exemplarsPerSeries.length) {
      this.#exemplarsPerSeries = grow(this.#exemplarsPerSeries);
      this.#sourceIndex = grow(this.#sourceIndex);
      this.#outStart = grow(this.#outStart);
    }
    this.#exemplarsPerSeries[w] = exCount;
    this.#sourceIndex[w] = index;
    this.#outStart[w] = outStart;
    st.samples += samples;
    st.histograms += histograms;
    st.exemplars += exCount;
  }

  /** Record the label refs of one exemplar into #exRefs from `first`; returns the new count. */
  #exemplar(buf: Buffer, p: number, end: number, first: number): number {
    const symbolCount = this.#symbolCount;
    let refs = this.#exRefs;
    let n = first;
    while (p < end) {
      const at = p;
      const tag = readTag(buf, p, end, 'Exemplar');
      p = next;
      if (tag === Tag.ExLabelRefsPacked || tag === Tag.ExLabelRef) {
        // Packed: any number of varints in a length-delimited field; unpacked: one varint.
        let fieldEnd = end;
        if (tag === Tag.ExLabelRefsPacked) {
          const len = readLen(buf, p, end, 'Exemplar.labels_refs', at);
          p = next;
          fieldEnd = p + len;
        }
        const one = tag === Tag.ExLabelRef;
        while (one || p < fieldEnd) {
          const ref = readVarint(buf, p, fieldEnd, 'Exemplar.labels_refs');
          p = next;
          if (ref >= symbolCount) throw bad(`exemplar label ref ${ref} is past the ${symbolCount} symbols`, at);
          if (n === refs.length) refs = this.#exRefs = growU32(refs);
          refs[n++] = ref;
          if (one) break;
        }
      } else {
        if (tag >>> 3 === 1) throw bad(`Exemplar.labels_refs has wire type ${WIRE_NAMES[tag & 7]}`, at);
        p = skipField(buf, p, end, tag, 'Exemplar', at);
      }
    }
    return n;
  }

  /** Bytes of the 1.0 Label fields for refs[first, first + n) (name/value pairs). */
  #labelsSize(refs: Uint32Array, first: number, n: number): number {
    const s = this.#symbols;
    let size = 0;
    for (let i = first; i < first + n; i += 2) {
      const a = refs[i]!;
      const b = refs[i + 1]!;
      const nl = s[2 * a + 1]! - s[2 * a]!;
      const vl = s[2 * b + 1]! - s[2 * b]!;
      const label = 2 + varintSize(nl) + nl + varintSize(vl) + vl;
      size += 1 + varintSize(label) + label;
      // Each pair costs at least 2 bytes of input and may name symbols of any length: check
      // the running size so a crafted request cannot make this sum overflow before #ensure.
      if (size > this.#max) throw tooLarge(this.#max);
    }
    return size;
  }

  #writeLabels(buf: Buffer, out: Buffer, o: number, refs: Uint32Array, first: number, n: number): number {
    const s = this.#symbols;
    for (let i = first; i < first + n; i += 2) {
      const ns = s[2 * refs[i]!]!;
      const nl = s[2 * refs[i]! + 1]! - ns;
      const vs = s[2 * refs[i + 1]!]!;
      const vl = s[2 * refs[i + 1]! + 1]! - vs;
      out[o++] = Tag.V1Label;
      o = putVarint(out, o, 2 + varintSize(nl) + nl + varintSize(vl) + vl);
      out[o++] = Tag.V1LabelName;
      o = putVarint(out, o, nl);
      o = copyBytes(buf, out, o, ns, nl);
      out[o++] = Tag.V1LabelValue;
      o = putVarint(out, o, vl);
      o = copyBytes(buf, out, o, vs, vl);
    }
    return o;
  }

  #ensure(n: number, seriesIndex: number): void {
    if (n > this.#max) throw tooLarge(this.#max, seriesIndex);
    if (n <= this.#out.length) return;
    let cap = this.#out.length * 2;
    while (cap < n) cap *= 2;
    const grown = Buffer.allocUnsafeSlow(Math.min(cap, this.#max));
    this.#out.copy(grown, 0, 0, this.#pos);
    this.#out = grown;
  }
}

function tooLarge(max: number, seriesIndex?: number): SpillwayError {
  const where = seriesIndex === undefined ? '' : ` (at series ${seriesIndex})`;
  return new SpillwayError('SPW_ERR_DECOMPRESSED_TOO_LARGE', `the remote-write 2.0 request converted to 1.0 exceeds the limit of ${max} bytes${where}`);
}

/** True when a Metadata message says something (a type, a help or a unit); its framing is checked. */
function metadataPresent(buf: Buffer, p: number, end: number): boolean {
  let present = false;
  while (p < end) {
    const at = p;
    const tag = readTag(buf, p, end, 'Metadata');
    p = next;
    if (tag === Tag.MdType || tag === Tag.MdHelp || tag === Tag.MdUnit) {
      if (readVarint(buf, p, end, 'Metadata') !== 0) present = true;
      p = next;
    } else {
      const field = tag >>> 3;
      if (field === 1 || field === 3 || field === 4) throw bad(`Metadata field ${field} has wire type ${WIRE_NAMES[tag & 7]}`, at);
      p = skipField(buf, p, end, tag, 'Metadata', at);
    }
  }
  return present;
}

/** Bytes of an Exemplar's fields other than labels_refs (copied verbatim into the 1.0 form). */
function otherFieldsSize(buf: Buffer, p: number, end: number): number {
  let size = 0;
  while (p < end) {
    const at = p;
    const tag = readTag(buf, p, end, 'Exemplar');
    const after = skipField(buf, next, end, tag, 'Exemplar', at);
    if (tag >>> 3 !== 1) size += after - at;
    p = after;
  }
  return size;
}

function copyOtherFields(buf: Buffer, out: Buffer, o: number, p: number, end: number): number {
  while (p < end) {
    const at = p;
    const tag = readTag(buf, p, end, 'Exemplar');
    const after = skipField(buf, next, end, tag, 'Exemplar', at);
    if (tag >>> 3 !== 1) o = copyBytes(buf, out, o, at, after - at);
    p = after;
  }
  return o;
}

function copyField(buf: Buffer, out: Buffer, o: number, tag: number, start: number, end: number): number {
  out[o++] = tag;
  o = putVarint(out, o, end - start);
  return copyBytes(buf, out, o, start, end - start);
}

// Below this a byte loop beats Buffer#copy's fixed cost (bench/native.ts measured ~128 bytes).
const SHORT_COPY = 64;

function copyBytes(src: Buffer, out: Buffer, o: number, start: number, len: number): number {
  if (len < SHORT_COPY) {
    for (let i = 0; i < len; i++) out[o + i] = src[start + i]!;
  } else src.copy(out, o, start, start + len);
  return o + len;
}

function putVarint(out: Buffer, o: number, n: number): number {
  while (n > 0x7f) {
    out[o++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[o++] = n;
  return o;
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const g = new Int32Array(a.length * 2);
  g.set(a);
  return g;
}

function growU32(a: Uint32Array): Uint32Array<ArrayBuffer> {
  const g = new Uint32Array(a.length * 2);
  g.set(a);
  return g;
}
