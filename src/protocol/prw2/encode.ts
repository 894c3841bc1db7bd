// Remote-write 1.0 → 2.0, for nodes that take 2.0 (-remoteWrite.protocol=2). The spool keeps
// 1.0 (so a node that turns out not to take 2.0 gets the same bytes as 1.0), and this runs at
// send time. Sample and histogram messages have the same fields in both versions and are
// copied as they are; labels become references into one symbol table per request.

import { PrwDecoder } from '../prw/decode.js';
import { LABEL_STRIDE, L_NAME_END, L_NAME_START, L_VALUE_END, L_VALUE_START, SERIES_STRIDE, S_END, S_LABEL_COUNT, S_LABEL_FIRST, S_START } from '../prw/types.js';

export interface Prw2Output {
  body: Buffer;
  samples: number;
  histograms: number;
  exemplars: number;
}

/** Growable byte writer for protobuf output. */
class Writer {
  buf = Buffer.allocUnsafe(64 * 1024);
  len = 0;

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
  varint(v: number): void {
    this.reserve(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }
  bytes(src: Uint8Array, start: number, end: number): void {
    this.reserve(end - start);
    this.buf.set(src.subarray(start, end), this.len);
    this.len += end - start;
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Reads a varint at p; returns [value, next]. Input was validated by the 1.0 decoder. */
function readVarint(buf: Buffer, p: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const b = buf[p++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return [v, p];
    mul *= 128;
  }
}

export class Prw2Encoder {
  private readonly decoder = new PrwDecoder({ maxLabelsPerTimeseries: 1 << 30, maxLabelNameLen: 1 << 30, maxLabelValueLen: 1 << 30 });

  /** `v1` is an uncompressed 1.0 WriteRequest (already validated at ingest). */
  encode(v1: Buffer): Prw2Output {
    const view = this.decoder.decode(v1);
    const buf = view.buf;
    const symbols = new Map<string, number>([['', 0]]);
    const symbolRanges: number[] = [0, 0];
    const ref = (start: number, end: number): number => {
      const key = buf.toString('latin1', start, end);
      let id = symbols.get(key);
      if (id === undefined) {
        id = symbols.size;
        symbols.set(key, id);
        symbolRanges.push(start, end);
      }
      return id;
    };

    const series = new Writer();
    const refs: number[] = [];
    let samples = 0;
    let histograms = 0;
    let exemplars = 0;
    const ts = new Writer();
    for (let i = 0; i < view.seriesCount; i++) {
      const si = i * SERIES_STRIDE;
      ts.len = 0;
      refs.length = 0;
      const first = view.series[si + S_LABEL_FIRST]!;
      for (let l = first; l < first + view.series[si + S_LABEL_COUNT]!; l++) {
        const li = l * LABEL_STRIDE;
        refs.push(ref(view.labels[li + L_NAME_START]!, view.labels[li + L_NAME_END]!), ref(view.labels[li + L_VALUE_START]!, view.labels[li + L_VALUE_END]!));
      }
      writePackedRefs(ts, 1, refs);
      // Walk the 1.0 TimeSeries body for samples (2), exemplars (3) and histograms (4).
      let p = view.series[si + S_START]! + 1;
      const [, bodyStart] = readVarint(buf, p);
      p = bodyStart;
      const end = view.series[si + S_END]!;
      while (p < end) {
        const [tag, afterTag] = readVarint(buf, p);
        const wire = tag & 7;
        if (wire !== 2) {
          p = skipScalar(buf, afterTag, wire);
          continue;
        }
        const [len, at] = readVarint(buf, afterTag);
        const field = tag >>> 3;
        if (field === 2 || field === 4) {
          // Sample and Histogram: identical fields in 2.0 (samples = 2, histograms = 3).
          ts.varint(field === 2 ? 0x12 : 0x1a);
          ts.varint(len);
          ts.bytes(buf, at, at + len);
          if (field === 2) samples++;
          else histograms++;
        } else if (field === 3) {
          writeExemplar(ts, buf, at, at + len, ref);
          exemplars++;
        }
        p = at + len;
      }
      series.varint(0x2a); // Request.timeseries = 5
      series.varint(ts.len);
      series.bytes(ts.buf, 0, ts.len);
    }

    const out = new Writer();
    for (let s = 0; s < symbolRanges.length; s += 2) {
      out.varint(0x22); // Request.symbols = 4
      out.varint(symbolRanges[s + 1]! - symbolRanges[s]!);
      out.bytes(buf, symbolRanges[s]!, symbolRanges[s + 1]!);
    }
    out.bytes(series.buf, 0, series.len);
    return { body: Buffer.from(out.buf.subarray(0, out.len)), samples, histograms, exemplars };
  }
}

function writePackedRefs(w: Writer, field: number, refs: number[]): void {
  if (refs.length === 0) return;
  let size = 0;
  for (const r of refs) size += varintSize(r);
  w.varint((field << 3) | 2);
  w.varint(size);
  for (const r of refs) w.varint(r);
}

function skipScalar(buf: Buffer, p: number, wire: number): number {
  if (wire === 0) return readVarint(buf, p)[1];
  if (wire === 1) return p + 8;
  if (wire === 5) return p + 4;
  return buf.length; // cannot happen after 1.0 validation
}

/** 1.0 Exemplar {labels = 1 (Label), value = 2, timestamp = 3} → 2.0 {labels_refs = 1, value = 2, timestamp = 3}. */
function writeExemplar(w: Writer, buf: Buffer, start: number, end: number, ref: (a: number, b: number) => number): void {
  const refs: number[] = [];
  const rest = new Writer();
  let p = start;
  while (p < end) {
    const [tag, afterTag] = readVarint(buf, p);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const [len, at] = readVarint(buf, afterTag);
      let q = at;
      let name: [number, number] = [at, at];
      let value: [number, number] = [at, at];
      while (q < at + len) {
        const [lt, la] = readVarint(buf, q);
        const [ll, lat] = readVarint(buf, la);
        if (lt >>> 3 === 1) name = [lat, lat + ll];
        else if (lt >>> 3 === 2) value = [lat, lat + ll];
        q = lat + ll;
      }
      refs.push(ref(name[0], name[1]), ref(value[0], value[1]));
      p = at + len;
    } else {
      const next = wire === 2 ? (() => { const [l, a] = readVarint(buf, afterTag); return a + l; })() : skipScalar(buf, afterTag, wire);
      rest.bytes(buf, p, next); // value (2) and timestamp (3) keep their field numbers
      p = next;
    }
  }
  const inner = new Writer();
  writePackedRefs(inner, 1, refs);
  inner.bytes(rest.buf, 0, rest.len);
  w.varint(0x22); // TimeSeries.exemplars = 4
  w.varint(inner.len);
  w.bytes(inner.buf, 0, inner.len);
}
