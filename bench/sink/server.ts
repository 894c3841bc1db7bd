// A counting remote-write sink, run as its own process (so its CPU is never charged to the
// process being measured): one listener per storage node, all sharing one SeriesTracker
// (a series can move between nodes when the node list changes), plus a control listener.
//
//   node --import tsx bench/sink/server.ts '{"control":P,"ports":[P1,P2,...]}'
//
// Data listeners take POST <any path> with a snappy PRW 1.0 body, decode it (snappy +
// PrwDecoder), read (series id, seq) from every sample value and answer 204. On command
// a listener fails for a window:
//   503    answer 503 without reading the body into the tracker
//   reset  destroy the connection as a request arrives
//   stall  read the request, never answer; at the end of the window drop those connections
//   down   stop listening (connection refused) and drop open connections; listen again after
//
// Control (loopback): GET /stats → JSON; POST /fail {"port","mode","ms"}; POST /verify with
// an Int32Array body (acked highest seq per series id, then excluded (id, seq) pairs; the
// query `n` says how many entries are the first part) → JSON VerifyResult.
import http from 'node:http';
import type { Socket } from 'node:net';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { LABEL_STRIDE, L_NAME_START, L_VALUE_END, SERIES_STRIDE, S_END, S_LABEL_COUNT, S_LABEL_FIRST, S_START } from '../../src/protocol/prw/types.js';
import { snappyUncompress } from '../../src/protocol/snappy.js';
import { SEQ_LIMIT } from '../fleet/value.js';
import { Arrival, SeriesTracker } from './tracker.js';

export type FailMode = 'ok' | '503' | 'reset' | 'stall' | 'down';

export interface PortStats {
  port: number;
  mode: FailMode;
  requests: number;
  bytes: number;
  rawBytes: number;
  samples: number;
  unique: number;
  duplicates: number;
  outOfOrder: number;
  unknown: number;
  decodeErrors: number;
  /** Requests (or connection attempts, for down) turned away by failure injection, by mode. */
  injected: Record<string, number>;
  /** ms since epoch of the last accepted request; 0 if none. */
  lastRequestAt: number;
}

export interface SinkStats {
  pid: number;
  ports: PortStats[];
  totals: SeriesTracker['totals'];
}

const MAX_BODY = 64 * 1024 * 1024;

const cfg = JSON.parse(process.argv[2] ?? '{}') as { control: number; ports: number[] };
const tracker = new SeriesTracker();
const decoder = new PrwDecoder({ maxLabelsPerTimeseries: 1 << 16, maxLabelNameLen: 1 << 24, maxLabelValueLen: 1 << 24 });

interface Listener {
  index: number;
  port: number;
  server: http.Server;
  sockets: Set<Socket>;
  stalled: Set<Socket>;
  listening: boolean;
  stats: PortStats;
  timer: NodeJS.Timeout | null;
}

const listeners = new Map<number, Listener>();

/**
 * Each sample of one TimeSeries into the tracker. The label bytes length (first name to last
 * value, from the decoder's ranges) tells whether the series' labels arrive as first seen.
 */
function takeSeries(buf: Buffer, start: number, end: number, labelLen: number, st: PortStats, index: number): void {
  let p = start + 1;
  while (buf[p++]! >= 0x80);
  while (p < end) {
    const tag = buf[p++]!;
    const wire = tag & 7;
    if (wire === 2) {
      let len = 0;
      let shift = 0;
      let b: number;
      do {
        b = buf[p++]!;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b >= 0x80);
      if (tag === 0x12) {
        let value = 0;
        let s = p;
        const sEnd = p + len;
        while (s < sEnd) {
          const t = buf[s++]!;
          if (t === 0x09) {
            value = buf.readDoubleLE(s);
            s += 8;
          } else if ((t & 7) === 0) while (buf[s++]! >= 0x80);
          else if ((t & 7) === 1) s += 8;
          else if ((t & 7) === 5) s += 4;
          else break;
        }
        const ok = value >= 0 && value < 2 ** 53 && Math.floor(value) === value;
        const a = tracker.record(ok ? Math.floor(value / SEQ_LIMIT) : -1, ok ? value % SEQ_LIMIT : -1, labelLen, index);
        st.samples++;
        if (a === Arrival.InOrder || a === Arrival.Ahead) st.unique++;
        else if (a === Arrival.Late) {
          st.unique++;
          st.outOfOrder++;
        } else if (a === Arrival.Duplicate) st.duplicates++;
        else st.unknown++;
      }
      p += len;
    } else if (wire === 0) while (buf[p++]! >= 0x80);
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else return;
  }
}

function ingest(body: Buffer, st: PortStats, index: number): boolean {
  let raw: Buffer;
  try {
    raw = snappyUncompress(body, MAX_BODY);
    const v = decoder.decode(raw);
    const labels = v.labels;
    for (let i = 0; i < v.seriesCount; i++) {
      const si = i * SERIES_STRIDE;
      const first = v.series[si + S_LABEL_FIRST]!;
      const n = v.series[si + S_LABEL_COUNT]!;
      const labelLen = n === 0 ? 1 : labels[(first + n - 1) * LABEL_STRIDE + L_VALUE_END]! - labels[first * LABEL_STRIDE + L_NAME_START]! + 1;
      takeSeries(raw, v.series[si + S_START]!, v.series[si + S_END]!, labelLen, st, index);
    }
  } catch {
    st.decodeErrors++;
    return false;
  }
  st.rawBytes += raw.length;
  return true;
}

function count(st: PortStats, mode: string): void {
  st.injected[mode] = (st.injected[mode] ?? 0) + 1;
}

function handle(l: Listener, req: http.IncomingMessage, res: http.ServerResponse): void {
  const st = l.stats;
  const mode = st.mode;
  if (mode === 'reset') {
    count(st, 'reset');
    req.socket.destroy();
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(req.url === '/health' ? 200 : 405).end();
    return;
  }
  const declared = Number(req.headers['content-length'] ?? -1);
  const parts: Buffer[] = [];
  let size = 0;
  req.on('data', (b: Buffer) => {
    size += b.length;
    if (size > MAX_BODY) req.socket.destroy();
    else parts.push(b);
  });
  req.on('error', () => {});
  req.on('end', () => {
    if (mode === 'stall' || st.mode === 'stall') {
      count(st, 'stall');
      l.stalled.add(req.socket);
      return;
    }
    if (mode === '503' || st.mode === '503') {
      count(st, '503');
      res.writeHead(503, { 'content-type': 'text/plain' }).end('injected failure\n');
      return;
    }
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    st.requests++;
    st.bytes += body.length;
    st.lastRequestAt = Date.now();
    if (declared >= 0 && declared !== size) {
      st.decodeErrors++;
      res.writeHead(400).end('short body\n');
      return;
    }
    if (ingest(body, st, l.index)) res.writeHead(204).end();
    else res.writeHead(400, { 'content-type': 'text/plain' }).end('cannot decode\n');
  });
}

function listen(l: Listener): Promise<void> {
  return new Promise((resolve, reject) => {
    l.server.once('error', reject);
    l.server.listen({ host: '127.0.0.1', port: l.port }, () => {
      l.server.off('error', reject);
      l.listening = true;
      resolve();
    });
  });
}

function dropAll(sockets: Set<Socket>): void {
  for (const s of sockets) s.destroy();
  sockets.clear();
}

async function setMode(l: Listener, mode: FailMode, ms: number): Promise<void> {
  if (l.timer) clearTimeout(l.timer);
  l.timer = null;
  const prev = l.stats.mode;
  l.stats.mode = mode;
  if (prev === 'stall' && mode !== 'stall') dropAll(l.stalled);
  if (mode === 'down' && l.listening) {
    l.listening = false;
    count(l.stats, 'down');
    l.server.close();
    dropAll(l.sockets);
  }
  if (mode !== 'down' && !l.listening) {
    for (let attempt = 0; ; attempt++) {
      try {
        await listen(l);
        break;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  if (mode !== 'ok' && ms > 0) {
    l.timer = setTimeout(() => void setMode(l, 'ok', 0), ms);
  }
}

async function main(): Promise<void> {
  for (const [index, port] of cfg.ports.entries()) {
    const l: Listener = {
      index,
      port,
      server: http.createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }),
      sockets: new Set(),
      stalled: new Set(),
      listening: false,
      stats: { port, mode: 'ok', requests: 0, bytes: 0, rawBytes: 0, samples: 0, unique: 0, duplicates: 0, outOfOrder: 0, unknown: 0, decodeErrors: 0, injected: {}, lastRequestAt: 0 },
      timer: null,
    };
    l.server.on('request', (req, res) => handle(l, req, res));
    l.server.on('connection', (s: Socket) => {
      l.sockets.add(s);
      s.on('close', () => {
        l.sockets.delete(s);
        l.stalled.delete(s);
      });
    });
    listeners.set(port, l);
    await listen(l);
  }

  const control = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (b: Buffer) => parts.push(b));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (code: number, v: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      try {
        if (url.pathname === '/stats') {
          const s: SinkStats = { pid: process.pid, ports: [...listeners.values()].map((l) => l.stats), totals: tracker.totals };
          return json(200, s);
        }
        if (url.pathname === '/fail' && req.method === 'POST') {
          const { port, mode, ms } = JSON.parse(body.toString('utf8')) as { port: number; mode: FailMode; ms: number };
          const l = listeners.get(port);
          if (!l) return json(404, { error: `no listener on ${port}` });
          void setMode(l, mode, ms).then(
            () => json(200, { ok: true }),
            (err: Error) => json(500, { error: err.message }),
          );
          return;
        }
        if (url.pathname === '/verify' && req.method === 'POST') {
          const all = new Int32Array(body.byteLength >> 2);
          new Uint8Array(all.buffer).set(body.subarray(0, all.byteLength));
          const n = Number(url.searchParams.get('n') ?? all.length);
          return json(200, tracker.verify(all.subarray(0, n), all.subarray(n)));
        }
        json(404, { error: 'not found' });
      } catch (err) {
        json(500, { error: (err as Error).message });
      }
    });
  });
  await new Promise<void>((resolve) => control.listen({ host: '127.0.0.1', port: cfg.control }, resolve));
  process.stdout.write(`sink ready on ${cfg.ports.join(',')} (control ${cfg.control})\n`);
}

// The parent may go away without a word: stop with it.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
main().catch((err) => {
  process.stderr.write(`sink: ${(err as Error).stack}\n`);
  process.exit(1);
});
