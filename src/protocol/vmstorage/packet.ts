// vmstorage data phase (shared/vmstorage/PROTOCOL.md §3): after the handshake the client
// sends packets, u64 BE payload length then that many bytes of concatenated MetricRows, and
// vmstorage answers each with one ack byte: 0x01 read in full (stored asynchronously),
// 0x02 read-only (the packet was discarded, the connection stays usable), anything else is
// a protocol error. An empty packet is the only liveness probe.

import type { Socket } from 'node:net';
import { metricRowEnd } from './metric-row.js';

export const PACKET_HEADER_LEN = 8;

/** vmstorage closes the connection on a larger payload ("too big packet size"). */
export const MAX_SERVER_PACKET_BYTES = 100 * 1024 * 1024;

/**
 * Our packet size target. vminsert sends up to 30 MiB; a few MiB keeps the per-packet
 * deadline at its 60 s floor, bounds what one lost connection re-sends, and stays far from
 * the server's limit.
 */
export const DEFAULT_MAX_PACKET_BYTES = 8 * 1024 * 1024;

export const ACK_STORED = 0x01;
export const ACK_READ_ONLY = 0x02;

export type Ack = 'stored' | 'read-only';

/** Why a connection attempt or a packet failed; also the metrics `reason` label. */
export type ConnFailure = 'timeout' | 'network' | 'protocol';

/** A failed dial, handshake, write or ack read. The connection is unusable afterwards. */
export class VmstorageConnError extends Error {
  constructor(
    readonly reason: ConnFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VmstorageConnError';
  }
}

/** Ack byte → meaning; any other value is a protocol error (vminsert drops the connection). */
export function parseAck(b: number): Ack {
  if (b === ACK_STORED) return 'stored';
  if (b === ACK_READ_ONLY) return 'read-only';
  throw new VmstorageConnError('protocol', `unexpected ack byte 0x${b.toString(16).padStart(2, '0')} from vmstorage (want 01 or 02)`);
}

/** Write the u64 BE length of a packet into out[0..8). Lengths stay far below 2^53. */
export function writePacketHeader(payloadLen: number, out: Buffer): Buffer {
  const hi = Math.floor(payloadLen / 0x100000000);
  out.writeUInt32BE(hi, 0);
  out.writeUInt32BE(payloadLen - hi * 0x100000000, 4);
  return out;
}

/** The payload length in a packet header; beyond 2^53 it is only good for a size check. */
export function readPacketHeader(buf: Uint8Array, offset = 0): number {
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, 8);
  return dv.getUint32(0) * 0x100000000 + dv.getUint32(4);
}

/** A whole packet as one buffer (tests, tools; the sender writes header and payload separately). */
export function encodePacket(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PACKET_HEADER_LEN + payload.length);
  writePacketHeader(payload.length, out);
  out.set(payload, PACKET_HEADER_LEN);
  return out;
}

/**
 * Write and ack deadline for a packet, as vminsert sets them: max(60 s, len / 300 kB/s).
 * The floor leaves room for vmstorage's own wait for an insert slot (-insert.maxQueueDuration, 1 m).
 */
export function packetTimeoutMs(payloadLen: number, floorMs = 60_000): number {
  return Math.max(floorMs, Math.ceil(payloadLen / 300));
}

/**
 * Cut `rows` (concatenated MetricRows) into packets of at most `maxPayload` bytes at row
 * boundaries. Writes the end offset of each packet into `ends` (reused by the caller) and
 * returns the packet count; an empty input gives 0 packets. A single row larger than
 * `maxPayload` gets a packet of its own. Throws MetricRowFormatError when the bytes are not
 * whole rows: vmstorage would ack such a packet and silently drop its rest.
 */
export function splitRows(rows: Uint8Array, maxPayload: number, ends: number[]): number {
  const end = rows.length;
  let n = 0;
  let packetStart = 0;
  let p = 0;
  while (p < end) {
    const rowEnd = metricRowEnd(rows, p, end);
    if (rowEnd - packetStart > maxPayload && p > packetStart) {
      ends[n++] = p;
      packetStart = p;
    }
    p = rowEnd;
  }
  if (p > packetStart) ends[n++] = p;
  return n;
}

/**
 * Exact-length reads from a socket with deadlines. Buffers whatever arrives (vmstorage's
 * replies are single bytes, so the buffer stays tiny); after 'end', 'close' or 'error' every
 * pending and later read fails with a network error.
 */
export class SocketReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #pending: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout | undefined } | undefined;
  #failure: VmstorageConnError | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#serve();
    });
    const fail = (why: string) => (err?: Error) => {
      // Data that arrived before the close is still readable.
      this.#failure ??= new VmstorageConnError('network', err ? `${why}: ${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim() : why, err ? { cause: err } : undefined);
      this.#serve();
    };
    socket.on('error', fail('connection error'));
    socket.on('end', fail('connection closed by the peer'));
    socket.on('close', fail('connection closed'));
  }

  /** True once the connection ended or failed: nothing more will arrive. */
  get closed(): boolean {
    return this.#failure !== undefined;
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Exactly `n` bytes, within `timeoutMs` (0 = no deadline). One read at a time. On timeout
   * the socket is destroyed: a late reply would otherwise be taken for the next one's.
   */
  read(n: number, timeoutMs = 0): Promise<Buffer> {
    if (this.#pending) return Promise.reject(new Error('SocketReader: a read is already pending'));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#pending = undefined;
          this.socket.destroy();
          reject(new VmstorageConnError('timeout', `no reply within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#pending = { n, resolve, reject, timer };
      this.#serve();
    });
  }

  #serve(): void {
    const p = this.#pending;
    if (!p) return;
    if (this.#buffered >= p.n) {
      this.#pending = undefined;
      if (p.timer) clearTimeout(p.timer);
      p.resolve(this.#take(p.n));
    } else if (this.#failure) {
      this.#pending = undefined;
      if (p.timer) clearTimeout(p.timer);
      p.reject(this.#failure);
    }
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    this.#buffered -= n;
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}

/**
 * Write `parts` as one flush (corked, no copy), resolving once the kernel took the bytes,
 * within `timeoutMs`. On timeout the socket is destroyed.
 */
export function writeWithDeadline(socket: Socket, parts: readonly Uint8Array[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || !socket.writable) {
      reject(new VmstorageConnError('network', 'connection closed'));
      return;
    }
    let done = false;
    const finish = (err?: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('close', onClose);
      if (err) reject(err instanceof VmstorageConnError ? err : new VmstorageConnError('network', `write failed: ${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim(), { cause: err }));
      else resolve();
    };
    const onClose = () => finish(new VmstorageConnError('network', 'connection closed while writing'));
    const timer = setTimeout(() => {
      socket.destroy();
      finish(new VmstorageConnError('timeout', `write not flushed within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('close', onClose);
    socket.cork();
    for (let i = 0; i < parts.length - 1; i++) socket.write(parts[i]!);
    socket.write(parts[parts.length - 1]!, finish);
    socket.uncork();
  });
}
