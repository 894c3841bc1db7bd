// A lean remote-write 1.0 WriteRequest writer for the text import formats: labels come as
// byte ranges of the request body (no string built) or, when they had to be unescaped or
// came out of JSON.parse, from the writer's own scratch bytes. One series is staged, then
// committed as one TimeSeries; the output is capped so an import can never grow past the
// limit the rest of the pipeline holds to.
import { SpillwayError } from '../../errors.js';

const enum Src {
  Body = 0,
  Scratch = 1,
}

const TWO_32 = 4294967296;

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Bytes of an int64 varint for a safe integer (negative values take 10). */
function int64Size(v: number): number {
  if (v < 0) return 10;
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

export class WriteRequestWriter {
  readonly #max: number;
  #out: Buffer;
  #pos = 0;
  #body: Buffer = Buffer.alloc(0);
  #scratch: Buffer = Buffer.allocUnsafeSlow(4096);
  #scratchPos = 0;
  /** Staged labels: nameSrc, nameStart, nameEnd, valueSrc, valueStart, valueEnd. */
  #labels = new Int32Array(6 * 32);
  #labelCount = 0;
  #values = new Float64Array(16);
  #times = new Float64Array(16);
  #sampleCount = 0;
  readonly #f64 = new Float64Array(1);
  readonly #f64Bytes = new Uint8Array(this.#f64.buffer);
  /** Series and samples committed since begin(). */
  seriesCount = 0;
  sampleCount = 0;
  minTs = Infinity;
  maxTs = -Infinity;

  /** maxBytes: the largest WriteRequest to produce; past it commit() throws SPW_ERR_DECOMPRESSED_TOO_LARGE. */
  constructor(maxBytes: number) {
    this.#max = maxBytes > 0 && Number.isFinite(maxBytes) ? Math.min(maxBytes, 0x7fffffff) : 0x7fffffff;
    this.#out = Buffer.allocUnsafeSlow(64 * 1024);
  }

  /** Start a request whose body the Body ranges refer to. */
  begin(body: Buffer): void {
    this.#body = body;
    this.#pos = 0;
    this.seriesCount = 0;
    this.sampleCount = 0;
    this.minTs = Infinity;
    this.maxTs = -Infinity;
    this.discard();
  }

  /** A label whose name and value are body[ns, ne) and body[vs, ve). */
  labelFromBody(ns: number, ne: number, vs: number, ve: number): void {
    this.#label(Src.Body, ns, ne, Src.Body, vs, ve);
  }

  /** A label whose name and value are each a range of the body or of scratch (see scratchByte). */
  labelRanges(nameInScratch: boolean, ns: number, ne: number, valueInScratch: boolean, vs: number, ve: number): void {
    this.#label(nameInScratch ? Src.Scratch : Src.Body, ns, ne, valueInScratch ? Src.Scratch : Src.Body, vs, ve);
  }

  /** A label from strings (written as UTF-8 into scratch). */
  labelStrings(name: string, value: string): void {
    const ns = this.#scratchPos;
    const ne = this.#writeString(name);
    const ve = this.#writeString(value);
    this.#label(Src.Scratch, ns, ne, Src.Scratch, ne, ve);
  }

  /** Current end of the scratch bytes: the start of a range built with scratchByte(). */
  get scratchPos(): number {
    return this.#scratchPos;
  }

  /** Append one byte to scratch (unescaping); ranges of staged labels stay valid. */
  scratchByte(b: number): void {
    if (this.#scratchPos === this.#scratch.length) this.#growScratch(1);
    this.#scratch[this.#scratchPos++] = b;
  }

  /** One float sample (timestamp in ms, a safe integer). */
  sample(value: number, timestampMs: number): void {
    const n = this.#sampleCount;
    if (n === this.#values.length) {
      const v = new Float64Array(n * 2);
      v.set(this.#values);
      this.#values = v;
      const t = new Float64Array(n * 2);
      t.set(this.#times);
      this.#times = t;
    }
    this.#values[n] = value;
    this.#times[n] = timestampMs;
    this.#sampleCount = n + 1;
  }

  /** Drop the staged series. */
  discard(): void {
    this.#labelCount = 0;
    this.#sampleCount = 0;
    this.#scratchPos = 0;
  }

  /** Write the staged series as one TimeSeries and clear the stage. */
  commit(): void {
    const l = this.#labels;
    let body = 0;
    for (let i = 0; i < this.#labelCount; i++) {
      const nl = l[6 * i + 2]! - l[6 * i + 1]!;
      const vl = l[6 * i + 5]! - l[6 * i + 4]!;
      const label = 2 + varintSize(nl) + nl + varintSize(vl) + vl;
      body += 1 + varintSize(label) + label;
    }
    for (let i = 0; i < this.#sampleCount; i++) {
      const sample = 10 + int64Size(this.#times[i]!);
      body += 1 + varintSize(sample) + sample;
    }
    const total = 1 + varintSize(body) + body;
    this.#ensure(total);

    const out = this.#out;
    let o = this.#pos;
    out[o++] = 0x0a; // WriteRequest.timeseries
    o = putVarint(out, o, body);
    for (let i = 0; i < this.#labelCount; i++) {
      const b = 6 * i;
      const nl = l[b + 2]! - l[b + 1]!;
      const vl = l[b + 5]! - l[b + 4]!;
      out[o++] = 0x0a; // TimeSeries.labels
      o = putVarint(out, o, 2 + varintSize(nl) + nl + varintSize(vl) + vl);
      out[o++] = 0x0a; // Label.name
      o = putVarint(out, o, nl);
      o = this.#copy(out, o, l[b]!, l[b + 1]!, nl);
      out[o++] = 0x12; // Label.value
      o = putVarint(out, o, vl);
      o = this.#copy(out, o, l[b + 3]!, l[b + 4]!, vl);
    }
    const f64 = this.#f64;
    const fb = this.#f64Bytes;
    for (let i = 0; i < this.#sampleCount; i++) {
      const ts = this.#times[i]!;
      out[o++] = 0x12; // TimeSeries.samples
      o = putVarint(out, o, 10 + int64Size(ts));
      out[o++] = 0x09; // Sample.value, fixed64
      f64[0] = this.#values[i]!;
      for (let k = 0; k < 8; k++) out[o + k] = fb[k]!;
      o += 8;
      out[o++] = 0x10; // Sample.timestamp
      o = putInt64(out, o, ts);
      if (ts < this.minTs) this.minTs = ts;
      if (ts > this.maxTs) this.maxTs = ts;
    }
    this.#pos = o;
    this.seriesCount++;
    this.sampleCount += this.#sampleCount;
    this.discard();
  }

  /** The WriteRequest so far: a view into the writer's buffer, valid until the next begin(). */
  finish(): Buffer {
    return this.#out.subarray(0, this.#pos);
  }

  #label(nSrc: Src, ns: number, ne: number, vSrc: Src, vs: number, ve: number): void {
    const i = this.#labelCount;
    if (6 * i + 6 > this.#labels.length) {
      const g = new Int32Array(this.#labels.length * 2);
      g.set(this.#labels);
      this.#labels = g;
    }
    const l = this.#labels;
    l[6 * i] = nSrc;
    l[6 * i + 1] = ns;
    l[6 * i + 2] = ne;
    l[6 * i + 3] = vSrc;
    l[6 * i + 4] = vs;
    l[6 * i + 5] = ve;
    this.#labelCount = i + 1;
  }

  #writeString(s: string): number {
    // Worst case 3 bytes per UTF-16 unit.
    if (this.#scratchPos + 3 * s.length > this.#scratch.length) this.#growScratch(3 * s.length);
    this.#scratchPos += this.#scratch.write(s, this.#scratchPos, 'utf8');
    return this.#scratchPos;
  }

  #growScratch(n: number): void {
    let cap = this.#scratch.length * 2;
    while (cap < this.#scratchPos + n) cap *= 2;
    const g = Buffer.allocUnsafeSlow(cap);
    this.#scratch.copy(g, 0, 0, this.#scratchPos);
    this.#scratch = g;
  }

  #copy(out: Buffer, o: number, src: number, start: number, len: number): number {
    const from = src === Src.Body ? this.#body : this.#scratch;
    if (len < 64) {
      for (let i = 0; i < len; i++) out[o + i] = from[start + i]!;
    } else from.copy(out, o, start, start + len);
    return o + len;
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need > this.#max) {
      throw new SpillwayError(
        'SPW_ERR_DECOMPRESSED_TOO_LARGE',
        `the import converted to remote-write exceeds the limit of ${this.#max} bytes (at series ${this.seriesCount}); split the import into smaller bodies`,
      );
    }
    if (need <= this.#out.length) return;
    let cap = this.#out.length * 2;
    while (cap < need) cap *= 2;
    const g = Buffer.allocUnsafeSlow(Math.min(cap, this.#max));
    this.#out.copy(g, 0, 0, this.#pos);
    this.#out = g;
  }
}

function putVarint(out: Buffer, o: number, n: number): number {
  while (n > 0x7f) {
    out[o++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[o++] = n;
  return o;
}

/** A safe integer as an int64 varint (two's complement for negative values). */
function putInt64(out: Buffer, o: number, v: number): number {
  if (v >= 0) {
    while (v >= 128) {
      out[o++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[o++] = v;
    return o;
  }
  // Negative: the 64-bit two's complement as two 32-bit halves, 10 bytes.
  const hiSigned = Math.floor(v / TWO_32);
  let lo = v - hiSigned * TWO_32;
  let hi = hiSigned >>> 0;
  for (let i = 0; i < 9; i++) {
    out[o++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  out[o++] = lo & 0x01;
  return o;
}
