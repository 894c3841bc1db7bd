// Prometheus remote-write 1.0 request bodies for the integration tests, built with the
// project's encoder (src/protocol) and POSTed the way vmagent does.
import { encodeWriteRequest, STALE_NAN_BITS, type SeriesInput } from '../../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../../src/protocol/snappy.js';
import { httpRequest, type HttpResult } from './procs.js';

export { STALE_NAN_BITS };

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

export function float64Bits(v: number): bigint {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b.readBigUInt64LE();
}

function toSeriesInput(s: TestSeries): SeriesInput {
  return {
    labels: s.labels,
    samples: s.samples.map((x) => [x.bits ?? x.value, x.timestamp] as const),
  };
}

/** The body of a snappy-compressed remote-write 1.0 request, built with Spillway's own encoder. */
export function writeRequestBody(series: TestSeries[]): Buffer {
  return snappyCompress(encodeWriteRequest(series.map(toSeriesInput)));
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
