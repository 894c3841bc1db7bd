// Encoder for remote-write 1.0 WriteRequests from plain JS values. Tests, the benchmark and
// the demo use it to produce request bodies; the proxy itself never re-encodes series
// (routing copies the byte ranges the decoder found).

/** A label name or value: a string (written as UTF-8) or raw bytes. */
export type LabelPart = string | Uint8Array;
export type LabelInput = readonly [name: LabelPart, value: LabelPart];
/**
 * [value, timestampMs]. A bigint value is the raw IEEE-754 bit pattern, for NaN payloads such
 * as the Prometheus stale marker that a JS number cannot be trusted to carry through arrays.
 * A bigint timestamp allows the full int64 range.
 */
export type SampleInput = readonly [value: number | bigint, timestampMs: number | bigint];

export interface SeriesInput {
  labels: readonly LabelInput[];
  samples: readonly SampleInput[];
}

export interface MetadataInput {
  /** MetricMetadata.MetricType: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram, 5 summary, 6 info, 7 stateset. */
  type: number;
  metricFamilyName: string;
  help?: string;
  unit?: string;
}

/** Bit pattern of the Prometheus staleness marker (a NaN that means "this series ended"). */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

const TWO_32 = 4294967296;

function varintSize(n: number): number {
  // Lengths only: non-negative and below 2^31.
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Split an int64 into [lo, hi] uint32 halves of its two's complement form. */
function int64Halves(v: number | bigint, out: Uint32Array): void {
  if (typeof v === 'bigint') {
    const u = BigInt.asUintN(64, v);
    out[0] = Number(u & 0xffffffffn);
    out[1] = Number(u >> 32n);
    return;
  }
  if (!Number.isSafeInteger(v)) {
    throw new RangeError(`timestamp ${v} is not a safe integer; pass a bigint for values beyond 2^53`);
  }
  const hi = Math.floor(v / TWO_32);
  out[0] = v - hi * TWO_32;
  out[1] = hi >>> 0;
}

const halves = new Uint32Array(2);

function int64Size(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v < 0x10000000) return varintSize(v);
  int64Halves(v, halves);
  let lo = halves[0]!;
  let hi = halves[1]!;
  let n = 1;
  while (hi !== 0 || lo > 0x7f) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    n++;
  }
  return n;
}

/**
 * Builds one WriteRequest into a growable buffer. Every Label writes both name and value and
 * every Sample both value and timestamp, even when they are proto3 defaults: any decoder
 * accepts that, and it keeps NaN payloads and -0 intact.
 */
export class WriteRequestBuilder {
  #buf: Buffer;
  #pos = 0;
  #seriesCount = 0;
  #sampleCount = 0;
  // Byte lengths of the current series' label parts, so strings are measured once.
  #partLens: number[] = [];

  constructor(initialCapacity = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(64, initialCapacity));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  get seriesCount(): number {
    return this.#seriesCount;
  }

  get sampleCount(): number {
    return this.#sampleCount;
  }

  /** Append one TimeSeries (WriteRequest field 1). */
  addSeries(series: SeriesInput): this {
    const lens = this.#partLens;
    lens.length = 0;
    let body = 0;
    for (const [name, value] of series.labels) {
      const n = partLength(name);
      const v = partLength(value);
      lens.push(n, v);
      const label = 1 + varintSize(n) + n + 1 + varintSize(v) + v;
      body += 1 + varintSize(label) + label;
    }
    for (const [, ts] of series.samples) {
      const sample = 9 + 1 + int64Size(ts);
      body += 1 + varintSize(sample) + sample;
    }
    this.#ensure(1 + 5 + body);

    this.#byte(0x0a);
    this.#uvarint(body);
    let i = 0;
    for (const [name, value] of series.labels) {
      const n = lens[i++]!;
      const v = lens[i++]!;
      this.#byte(0x0a);
      this.#uvarint(1 + varintSize(n) + n + 1 + varintSize(v) + v);
      this.#byte(0x0a);
      this.#uvarint(n);
      this.#part(name, n);
      this.#byte(0x12);
      this.#uvarint(v);
      this.#part(value, v);
    }
    for (const [value, ts] of series.samples) {
      this.#byte(0x12);
      this.#uvarint(9 + 1 + int64Size(ts));
      this.#byte(0x09);
      if (typeof value === 'bigint') this.#buf.writeBigUInt64LE(BigInt.asUintN(64, value), this.#pos);
      else this.#buf.writeDoubleLE(value, this.#pos);
      this.#pos += 8;
      this.#byte(0x10);
      this.#int64(ts);
    }
    this.#seriesCount++;
    this.#sampleCount += series.samples.length;
    return this;
  }

  /** Append one MetricMetadata (WriteRequest field 3). */
  addMetadata(m: MetadataInput): this {
    const fields: [number, string][] = [[2, m.metricFamilyName]];
    if (m.help !== undefined) fields.push([4, m.help]);
    if (m.unit !== undefined) fields.push([5, m.unit]);
    let body = 1 + int64Size(m.type);
    for (const [, s] of fields) {
      const n = Buffer.byteLength(s, 'utf8');
      body += 1 + varintSize(n) + n;
    }
    this.#ensure(1 + 5 + body);
    this.#byte(0x1a);
    this.#uvarint(body);
    this.#byte(0x08);
    this.#int64(m.type);
    for (const [field, s] of fields) {
      const n = Buffer.byteLength(s, 'utf8');
      this.#byte((field << 3) | 2);
      this.#uvarint(n);
      this.#part(s, n);
    }
    return this;
  }

  /** A copy of the request built so far; the builder is reset for the next one. */
  finish(): Buffer {
    const out = Buffer.from(this.#buf.subarray(0, this.#pos));
    this.reset();
    return out;
  }

  reset(): void {
    this.#pos = 0;
    this.#seriesCount = 0;
    this.#sampleCount = 0;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  #byte(b: number): void {
    this.#buf[this.#pos++] = b;
  }

  #uvarint(n: number): void {
    while (n > 0x7f) {
      this.#buf[this.#pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.#buf[this.#pos++] = n;
  }

  #int64(v: number | bigint): void {
    int64Halves(v, halves);
    let lo = halves[0]!;
    let hi = halves[1]!;
    while (hi !== 0 || lo > 0x7f) {
      this.#buf[this.#pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.#buf[this.#pos++] = lo;
  }

  #part(p: LabelPart, n: number): void {
    if (typeof p === 'string') this.#buf.write(p, this.#pos, n, 'utf8');
    else this.#buf.set(p, this.#pos);
    this.#pos += n;
  }
}

function partLength(p: LabelPart): number {
  return typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
}

/** Encode a whole WriteRequest in one call. */
export function encodeWriteRequest(series: readonly SeriesInput[], metadata: readonly MetadataInput[] = []): Buffer {
  const b = new WriteRequestBuilder();
  for (const s of series) b.addSeries(s);
  for (const m of metadata) b.addMetadata(m);
  return b.finish();
}
