// Prometheus remote-write 1.0 request bodies for tests: a WriteRequest protobuf encoder
// and a snappy block writer, independent of Spillway's own codec so the two check
// each other.
import { httpRequest, type HttpResult } from './procs.js';

/** The Prometheus staleness marker's bit pattern. */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

export interface TestSample {
  /** The value; ignored when `bits` is given. */
  value: number;
  /** The exact IEEE-754 bit pattern to send (for NaN payloads such as the stale marker). */
  bits?: bigint;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

export interface TestSeries {
  /** Labels in wire order; names/values as strings (UTF-8) or raw bytes. */
  labels: Array<[string | Uint8Array, string | Uint8Array]>;
  samples: TestSample[];
}

class ProtoWriter {
  private parts: Buffer[] = [];
  private len = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.len += b.length;
  }

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    const bytes: number[] = [];
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (x !== 0n);
    this.push(Buffer.from(bytes));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType);
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    this.push(Buffer.from(data));
    return this;
  }

  fixed64(field: number, bits: bigint): this {
    this.tag(field, 1);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt.asUintN(64, bits));
    this.push(b);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.len);
  }
}

const toBytes = (v: string | Uint8Array): Uint8Array => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);

export function float64Bits(v: number): bigint {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b.readBigUInt64LE();
}

/** Encode a prometheus.WriteRequest (field 1: repeated TimeSeries). */
export function encodeWriteRequest(series: TestSeries[]): Buffer {
  const req = new ProtoWriter();
  for (const s of series) {
    const ts = new ProtoWriter();
    for (const [name, value] of s.labels) {
      const label = new ProtoWriter().bytes(1, toBytes(name)).bytes(2, toBytes(value)).finish();
      ts.bytes(1, label);
    }
    for (const sample of s.samples) {
      const sw = new ProtoWriter().fixed64(1, sample.bits ?? float64Bits(sample.value));
      if (sample.timestamp !== 0) sw.tag(2, 0).varint(BigInt(sample.timestamp));
      ts.bytes(2, sw.finish());
    }
    req.bytes(1, ts.finish());
  }
  return req.finish();
}

/**
 * A valid snappy block (the format remote-write uses) holding `data` as literals only.
 * Any snappy decoder must accept it; it just does not compress.
 */
export function snappyLiteralBlock(data: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  const hdr = new ProtoWriter().varint(data.length).finish();
  parts.push(hdr);
  const CHUNK = 65536;
  for (let off = 0; off < data.length; off += CHUNK) {
    const n = Math.min(CHUNK, data.length - off);
    const len1 = n - 1;
    if (len1 < 60) parts.push(Buffer.from([len1 << 2]));
    else if (len1 < 0x100) parts.push(Buffer.from([60 << 2, len1]));
    else parts.push(Buffer.from([61 << 2, len1 & 0xff, len1 >> 8]));
    parts.push(Buffer.from(data.subarray(off, off + n)));
  }
  return Buffer.concat(parts);
}

/** The body of a snappy-compressed remote-write 1.0 request. */
export function writeRequestBody(series: TestSeries[]): Buffer {
  return snappyLiteralBlock(encodeWriteRequest(series));
}

/** POST a remote-write 1.0 request body the way vmagent and Prometheus do. */
export function postRemoteWrite(url: string, body: Buffer): Promise<HttpResult> {
  return httpRequest(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': 'spillway-integration-test',
    },
    body,
    timeoutMs: 15_000,
  });
}
