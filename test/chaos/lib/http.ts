// A keep-alive HTTP client for loopback only (undici Pool), for suites that send many
// thousands of requests; procs.ts's httpRequest opens a connection per request.

import { Pool } from 'undici';
import { isLoopback } from '../../integration/helpers/procs.js';

export interface Answered {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class LoopbackClient {
  private readonly pool: Pool;

  constructor(
    readonly base: string,
    opts: { connections?: number; timeoutMs?: number } = {},
  ) {
    const u = new URL(base);
    if (!isLoopback(u.hostname)) throw new Error(`refusing to send test traffic to ${u.hostname}: loopback only`);
    const timeout = opts.timeoutMs ?? 15_000;
    this.pool = new Pool(u.origin, { connections: opts.connections ?? 8, headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: timeout });
  }

  /** Resolves with the answer; rejects on connection errors and timeouts. */
  async request(method: 'GET' | 'POST', path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answered> {
    const res = await this.pool.request({ method, path, body, headers });
    const buf = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body: buf };
  }

  post(path: string, body: Buffer, headers: Record<string, string> = {}): Promise<Answered> {
    return this.request('POST', path, body, headers);
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => this.pool.destroy());
  }
}

export const PRW1_HEADERS = {
  'content-type': 'application/x-protobuf',
  'content-encoding': 'snappy',
  'x-prometheus-remote-write-version': '0.1.0',
  'user-agent': 'spillway-chaos',
};

/** Parses `name{labels} value` lines of a Prometheus exposition into name+labels → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of a metric over the series whose label set contains every `match` pair. */
export function metricSum(metrics: Map<string, number>, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const [k, v] of metrics) {
    if (k !== name && !k.startsWith(`${name}{`)) continue;
    if (Object.entries(match).every(([ln, lv]) => k.includes(`${ln}="${lv}"`))) sum += v;
  }
  return sum;
}
