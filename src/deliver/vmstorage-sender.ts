// Delivers one node's spool to a vmstorage over its native vminsert protocol
// (shared/vmstorage/PROTOCOL.md §2-§3), oldest record first, the way RemoteWriteSender
// does over HTTP. A record's data is already MetricRow bytes; it goes out as one packet,
// or several cut at row boundaries when large, one packet in flight, each acked before the
// next. The record is committed only after its last packet was acked 0x01.
//
// - Ack 0x02 (vmstorage read-only, low disk): the record is kept, the node shows as
//   'read-only', and an empty packet probes it every probe interval (30 s, as vminsert);
//   on 0x01 the record is sent again from the packet that was refused. Nothing is
//   re-routed to other nodes: Spillway's queues are per node (hinted handoff).
// - Socket error, close, timeout or a bad ack: drop the connection, back off, re-dial and
//   send the whole record again. At-least-once: vmstorage acks a packet once it has it in
//   memory, not on disk, so a node that just crashed may have lost packets it acked.
//   Duplicates are collapsed by deduplication (-dedup.minScrapeInterval).

import net from 'node:net';
import type { Logger } from 'pino';
import type { SenderOptions } from '../config/load.js';
import type { Metrics } from '../observe/metrics.js';
import { clientHandshake, DEFAULT_HANDSHAKE_TIMEOUT_MS } from '../protocol/vmstorage/handshake.js';
import { MetricRowFormatError } from '../protocol/vmstorage/metric-row.js';
import {
  type Ack,
  type ConnFailure,
  DEFAULT_MAX_PACKET_BYTES,
  MAX_SERVER_PACKET_BYTES,
  PACKET_HEADER_LEN,
  packetTimeoutMs,
  parseAck,
  SocketReader,
  splitRows,
  VmstorageConnError,
  writePacketHeader,
  writeWithDeadline,
} from '../protocol/vmstorage/packet.js';
import { RecordKind, type NodeSpool, type SpoolRecord } from '../spool/types.js';
import { gatherWaiting, mergeRecords } from './batch.js';
import { Backoff } from './backoff.js';
import { DeadLetterFile } from './dead-letter.js';
import { Pacer } from './pacer.js';
import type { NodeState, SenderSnapshot } from './remote-write-sender.js';
import { isUnreachable, sleepUnlessAborted, sleepUntilReachable } from './sleep.js';

/** RemoteWriteSender's states plus 'read-only': the node answers but refuses data. */
/** Pending records past which a lagging node gets records joined into full packets. */
const BATCH_WHEN_BEHIND = 16;

export type VmstorageNodeState = NodeState | 'read-only';

export interface VmstorageSenderSnapshot extends Omit<SenderSnapshot, 'state'> {
  state: VmstorageNodeState;
}

/** Protocol timings and sizes; the defaults are vminsert's. Tests shorten them. */
export interface VmstorageTuning {
  /** Interval between empty-packet probes of a read-only node. */
  probeIntervalMs?: number;
  /** Floor of the per-packet write and ack deadline (max(floor, len / 300 kB/s)). */
  packetTimeoutFloorMs?: number;
  /** TCP connect deadline. */
  dialTimeoutMs?: number;
  /** Deadline for the whole handshake. */
  handshakeTimeoutMs?: number;
  /** Packet payload size target; records are cut at row boundaries to stay below it. */
  maxPacketBytes?: number;
}

export const VMSTORAGE_DEFAULT_PORT = 8400;
const DEFAULT_PROBE_INTERVAL_MS = 30_000;
const DEFAULT_PACKET_TIMEOUT_FLOOR_MS = 60_000;
const DEFAULT_DIAL_TIMEOUT_MS = 5_000;
/** A record older than this when sent counts as replay (backlog), not live traffic. */
const REPLAY_THRESHOLD_MS = 10_000;

type FailReason = ConnFailure | 'read_only';

interface Connection {
  socket: net.Socket;
  reader: SocketReader;
}

/**
 * host:port to dial. Without a port, vmstorage's :8400 is appended (for dialing only: the
 * node identity used for hashing stays as written). IPv6 hosts come in brackets.
 */
export function dialAddress(addr: string): { host: string; port: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : VMSTORAGE_DEFAULT_PORT };
  const colon = addr.lastIndexOf(':');
  // A bare IPv6 address has several colons and no port.
  if (colon < 0 || addr.indexOf(':') !== colon) return { host: addr, port: VMSTORAGE_DEFAULT_PORT };
  const port = Number(addr.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new RangeError(`vmstorage address ${JSON.stringify(addr)} has an invalid port`);
  return { host: addr.slice(0, colon), port };
}

export class VmstorageSender {
  private readonly host: string;
  private readonly port: number;
  private readonly backoff: Backoff;
  private readonly pacer: Pacer;
  private readonly probeIntervalMs: number;
  private readonly timeoutFloorMs: number;
  private readonly dialTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly maxPacketBytes: number;
  private readonly abort = new AbortController();
  private readonly aborted = new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  private running: Promise<void> | undefined;
  private conn: Connection | undefined;
  private dialing: net.Socket | undefined;
  /** The node answered 0x02 last; probe before sending data again. */
  private readOnly = false;
  /** Packet header, reused: one packet is in flight and its write completes before the next. */
  private readonly header = Buffer.alloc(PACKET_HEADER_LEN);
  /** Packet end offsets of the record being delivered, reused from record to record. */
  private readonly packetEnds: number[] = [];
  private readonly snap: VmstorageSenderSnapshot = { state: 'idle', lastError: '', sentSamples: 0, sentRecords: 0, failedAttempts: 0, rejectedRecords: 0 };

  constructor(
    readonly node: string,
    addr: string,
    private readonly spool: NodeSpool,
    private readonly opts: SenderOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly deadLetter: DeadLetterFile,
    tuning: VmstorageTuning = {},
  ) {
    ({ host: this.host, port: this.port } = dialAddress(addr));
    this.backoff = new Backoff(opts.retryMinIntervalMs, opts.retryMaxIntervalMs);
    this.pacer = new Pacer(opts.replayMaxSamplesPerSecond);
    this.probeIntervalMs = tuning.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.timeoutFloorMs = tuning.packetTimeoutFloorMs ?? DEFAULT_PACKET_TIMEOUT_FLOOR_MS;
    this.dialTimeoutMs = tuning.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.handshakeTimeoutMs = tuning.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.maxPacketBytes = Math.min(tuning.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES, MAX_SERVER_PACKET_BYTES);
  }

  start(): void {
    this.running ??= this.loop().catch((err) => {
      if (!this.abort.signal.aborted) this.log.error({ err, node: this.node }, 'sender stopped unexpectedly');
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // Fails whatever is in flight; the record stays uncommitted and is re-sent after restart.
    this.dialing?.destroy();
    this.dropConnection();
    await this.running;
    await this.deadLetter.close();
  }

  snapshot(): VmstorageSenderSnapshot {
    return { ...this.snap };
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    let cursor = this.spool.readOffset;
    while (!this.stopped) {
      // -spool.onFull=drop-oldest may move the checkpoint past our cursor.
      if (this.spool.readOffset > cursor) cursor = this.spool.readOffset;
      const rec = await this.spool.read(cursor);
      if (rec === null) {
        if (this.snap.state === 'replaying') this.setState('up');
        await Promise.race([this.spool.waitForData(cursor), this.aborted]);
        continue;
      }
      const batch = await this.gather(rec);
      if (!(await this.deliver(batch))) return;
      await this.spool.commit(batch.nextOffset);
      cursor = batch.nextOffset;
    }
  }

  /**
   * When the node is behind (a backlog of more than BATCH_WHEN_BEHIND records), records
   * waiting behind `first` join it up to one packet: rows carry their own tenant, so they
   * concatenate freely, and a backlog of many small requests replays in full packets instead
   * of one round trip each. A node that keeps up still gets one packet per record.
   */
  private async gather(first: SpoolRecord): Promise<SpoolRecord> {
    if (first.kind !== RecordKind.VmstorageRows || this.spool.stats().pendingRecords <= BATCH_WHEN_BEHIND) return first;
    let bytes = first.data.length;
    const parts = await gatherWaiting(this.spool, first, (r) => {
      if (r.kind !== RecordKind.VmstorageRows || bytes + r.data.length > this.maxPacketBytes) return false;
      bytes += r.data.length;
      return true;
    });
    if (parts.length === 1) return first;
    return mergeRecords(parts, Buffer.concat(parts.map((p) => p.data), bytes));
  }

  /** Sends one record until the node acked all of it, or sets it aside. False when stopping. */
  private async deliver(rec: SpoolRecord): Promise<boolean> {
    if (rec.kind !== RecordKind.VmstorageRows) {
      // Only a wrong node configuration can queue remote-write bodies for a vmstorage node.
      await this.setAside(rec, `record kind ${rec.kind} is not vmstorage rows; check that this node is configured as a vmstorage node everywhere`);
      return true;
    }
    const ends = this.packetEnds;
    let packets: number;
    try {
      packets = splitRows(rec.data, this.maxPacketBytes, ends);
    } catch (err) {
      if (!(err instanceof MetricRowFormatError)) throw err;
      // vmstorage would ack it and drop the rest of the packet after the bad row, silently.
      await this.setAside(rec, `record is not well-formed MetricRows (${err.message})`);
      return true;
    }

    const paceMs = this.pacer.delayFor(rec.samples);
    if (paceMs > 0 && !(await this.sleep(paceMs))) return false;
    this.backoff.reset();
    let next = 0; // first packet not yet acked
    let attempts = 0;
    for (;;) {
      if (this.stopped) return false;
      try {
        const conn = await this.connection();
        if (this.readOnly) {
          if ((await this.sendPacket(conn, rec.data, 0, 0)) === 'read-only') {
            this.log.debug({ node: this.node }, 'vmstorage is still read-only');
            this.setState('read-only'); // also after a reconnect, which showed it down
            if (!(await this.sleep(this.probeIntervalMs))) return false;
            continue;
          }
          this.readOnly = false;
          this.log.info({ node: this.node }, 'vmstorage accepts data again; resending the record it refused');
        }
        if (attempts++ > 0) this.metrics.nodeRetries.inc({ node: this.node });
        const started = performance.now();
        let refused = false;
        while (next < packets) {
          const start = next === 0 ? 0 : ends[next - 1]!;
          if ((await this.sendPacket(conn, rec.data, start, ends[next]!)) === 'read-only') {
            refused = true;
            break;
          }
          this.metrics.nodeSentBytes.inc({ node: this.node }, PACKET_HEADER_LEN + ends[next]! - start);
          next++;
        }
        if (!refused) {
          this.metrics.nodeSendDuration.observe({ node: this.node }, (performance.now() - started) / 1000);
          this.metrics.nodeSentSamples.inc({ node: this.node }, rec.samples);
          this.metrics.nodeSentRecords.inc({ node: this.node });
          this.snap.sentSamples += rec.samples;
          this.snap.sentRecords++;
          this.setState(Date.now() - rec.appendedAt > REPLAY_THRESHOLD_MS ? 'replaying' : 'up');
          return true;
        }
        // Read-only: the refused packet was discarded, the ones before it were taken and the
        // connection is fine, so the resend starts at the refused packet.
        this.readOnly = true;
        this.fail('read_only', 'vmstorage is read-only (free disk below -storage.minFreeDiskSpaceBytes); data is kept and sent when it recovers');
        this.setState('read-only');
        if (!(await this.sleep(this.probeIntervalMs))) return false;
      } catch (err) {
        if (this.stopped) return false;
        if (!(err instanceof VmstorageConnError)) throw err;
        this.dropConnection();
        next = 0;
        this.fail(err.reason, `${err.reason === 'protocol' ? 'protocol error' : err.reason}: ${err.message}`);
        this.setState('down');
        const delay = this.backoff.next();
        if (this.backoff.attempts === 1 || this.backoff.attempts % 20 === 0) {
          this.log.warn({ node: this.node, addr: `${this.host}:${this.port}`, attempt: this.backoff.attempts, retryInMs: delay }, `send failed: ${err.message}; data stays in the spool and is retried`);
        }
        // A refused dial: probe during the backoff, so a returning vmstorage is noticed in seconds.
        if (!(await this.sleep(delay, isUnreachable((err.cause as NodeJS.ErrnoException | undefined)?.code)))) return false;
      }
    }
  }

  private fail(reason: FailReason, message: string): void {
    this.snap.failedAttempts++;
    this.snap.lastError = message;
    this.metrics.nodeSendFailures.inc({ node: this.node, reason });
  }

  /** One packet (rows data[start, end)), then its ack. Throws VmstorageConnError. */
  private async sendPacket(conn: Connection, data: Buffer, start: number, end: number): Promise<Ack> {
    const len = end - start;
    const timeoutMs = packetTimeoutMs(len, this.timeoutFloorMs);
    writePacketHeader(len, this.header);
    await writeWithDeadline(conn.socket, len === 0 ? [this.header] : [this.header, data.subarray(start, end)], timeoutMs);
    const ack = await conn.reader.read(1, timeoutMs);
    return parseAck(ack[0]!);
  }

  /** The open connection, or a new one (dial + handshake). Throws VmstorageConnError. */
  private async connection(): Promise<Connection> {
    // An idle connection the server closed is replaced without counting a failure.
    if (this.conn && !this.conn.reader.closed) return this.conn;
    this.dropConnection();
    const socket = await this.dial();
    const reader = new SocketReader(socket);
    try {
      await clientHandshake(socket, reader, { timeoutMs: this.handshakeTimeoutMs });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    this.conn = { socket, reader };
    this.log.debug({ node: this.node, addr: `${this.host}:${this.port}` }, 'connected to vmstorage');
    return this.conn;
  }

  private dial(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      if (this.stopped) {
        reject(new VmstorageConnError('network', 'stopping'));
        return;
      }
      const socket = net.connect({ host: this.host, port: this.port });
      this.dialing = socket;
      const done = (err?: VmstorageConnError) => {
        clearTimeout(timer);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (this.dialing === socket) this.dialing = undefined;
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve(socket);
      };
      const onConnect = () => {
        // Packets are corked and flushed whole; Nagle would only delay the small probes and
        // handshake steps. Keep-alive notices a vanished peer on an idle connection.
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        done();
      };
      const onError = (err: NodeJS.ErrnoException) => done(new VmstorageConnError('network', `cannot connect to ${this.host}:${this.port}: ${err.code ?? err.message}`, { cause: err }));
      const onClose = () => done(new VmstorageConnError('network', `cannot connect to ${this.host}:${this.port}: closed`));
      const timer = setTimeout(() => done(new VmstorageConnError('timeout', `cannot connect to ${this.host}:${this.port} within ${this.dialTimeoutMs} ms`)), this.dialTimeoutMs);
      socket.once('connect', onConnect);
      socket.on('error', onError);
      socket.once('close', onClose);
    });
  }

  private dropConnection(): void {
    this.conn?.socket.destroy();
    this.conn = undefined;
  }

  private async setAside(rec: SpoolRecord, reason: string): Promise<void> {
    this.snap.rejectedRecords++;
    this.metrics.nodeRejectedRecords.inc({ node: this.node });
    this.metrics.nodeRejectedSamples.inc({ node: this.node }, rec.samples);
    this.log.error({ node: this.node, samples: rec.samples, deadLetter: this.deadLetter.path }, `${reason}; set aside in the dead-letter file`);
    await this.deadLetter.add(rec, 0, reason);
  }

  private setState(state: VmstorageNodeState): void {
    if (this.snap.state === state) return;
    const prev = this.snap.state;
    this.snap.state = state;
    if (state === 'down') this.log.warn({ node: this.node, from: prev }, 'node is down; its spool keeps growing until it returns');
    else if (state === 'read-only') this.log.warn({ node: this.node, from: prev, probeEveryMs: this.probeIntervalMs }, 'vmstorage is read-only; its spool keeps growing, probing until it accepts data');
    else if (prev === 'down' || prev === 'read-only') this.log.info({ node: this.node, to: state }, 'node is back; replaying its spool oldest first');
    else this.log.debug({ node: this.node, from: prev, to: state }, 'node state changed');
    if (state === 'up' || state === 'replaying') this.snap.lastError = '';
  }

  /** Waits `ms`, or less if stopping (false) or, with `probe`, once the node accepts connections. */
  private sleep(ms: number, probe = false): Promise<boolean> {
    return probe ? sleepUntilReachable(ms, this.host, this.port, this.abort.signal) : sleepUnlessAborted(ms, this.abort.signal);
  }
}
