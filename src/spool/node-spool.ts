// One node's durable FIFO: segment files + group-commit writer + reader checkpoint + recovery.
//
//   append ──▶ queue ──(one writev per segment per batch, one fdatasync per batch)──▶ segment files
//                                                         │
//                         visible (writeOffset) ◀─────────┘──▶ recent-record cache (memory)
//   read(offset) ◀── cache, else the segment file (pread, CRC checked)
//   commit(next) ──▶ readOffset ──(debounced tmp+rename checkpoint)──▶ delete consumed segments
//
// Records become visible to the reader only once they are acknowledged (after the fsync with
// -spool.fsync=always), so a sender never ships something a crash could take back.
//
// -spool.fsync=<ms>: append resolves after write(), and a timer fdatasyncs at most every <ms>.
// The data is then in the kernel page cache: a process crash or kill -9 loses nothing, but a
// power loss or kernel crash can lose the records acknowledged in the last interval (and
// recovery then cuts the torn tail). -spool.fsync=always closes that window at the cost of one
// fdatasync per batch of concurrent appends (group commit).
//
// Memory: besides the recent-record cache, 16 bytes per pending record (RecordIndex), so a
// 10 GB backlog of 10 KB records costs about 16 MB.
//
// Offsets are global byte offsets; a record's nextOffset is offset + frame size. Recovery can
// leave a gap (a truncated segment followed by a later one): read() of an offset in a gap, or
// at the end of a segment, returns the first record after it, so `cursor = rec.nextOffset`
// always works.

import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, unlink, writeFile } from 'node:fs/promises';
import { SpillwayError } from '../errors.js';
import { readCheckpointSync, writeCheckpoint } from './checkpoint.js';
import { copyRangeSync, defaultIo, errCode, stamp, syncDir, syncDirSync, writeAll, writeFileAtomicSync } from './io.js';
import type { SpoolIo } from './io.js';
import { FRAME_HEADER, decodeFrame, encodeHeader, frameCrcOk, frameLength } from './record.js';
import { SEGMENT_NAME, newSegment, scanSegmentSync, segmentName } from './segment.js';
import type { ScanStop, Segment } from './segment.js';
import type { AppendInput, NodeSpool, SpoolOptions, SpoolRecord, SpoolStats } from './types.js';

/** pino-compatible subset (fastify's logger fits). */
export interface SpoolLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silentLog: SpoolLog = { info() {}, warn() {}, error() {} };

export interface NodeSpoolOptions extends SpoolOptions {
  /** Test seam for the hot-path writes and syncs (inject ENOSPC/EIO, count syncs). */
  io?: Partial<SpoolIo>;
  /**
   * The checkpoint file is rewritten at most this often (ms, default 1000). A crash re-sends at
   * most the records delivered in this window; the storage deduplicates them. Drops by
   * -spool.onFull=drop-oldest write it at once, since they free disk.
   */
  checkpointIntervalMs?: number;
  /** Wall clock (ms) for appendedAt and -spool.maxAge; a test seam. */
  now?: () => number;
  log?: SpoolLog;
}

export const NODE_FILE = 'node.json';
export const CORRUPT_DIR = 'corrupt';

export interface MovedAside {
  /** Where the bytes are now (under <node dir>/corrupt/). */
  file: string;
  /** The segment file they came from. */
  from: string;
  /** Global offset of the first moved byte. */
  offset: number;
  bytes: number;
  reason: ScanStop | 'unreadable' | 'read-bad-crc';
}

export interface RecoveryReport {
  node: string;
  dir: string;
  /** The checkpoint found (null: none, the queue is read from its first segment). */
  checkpoint: number | null;
  readOffset: number;
  writeOffset: number;
  segments: number;
  /** Pending records verified by the scan, their frame bytes and samples. */
  records: number;
  bytes: number;
  samples: number;
  /** Bytes cut off the ends of segments (torn or corrupt tails). */
  truncatedBytes: number;
  /** Damaged data kept under corrupt/ instead of in the queue. */
  movedAside: MovedAside[];
  /** Segments wholly below the checkpoint, deleted (already delivered). */
  deletedSegments: number;
  problems: string[];
  durationMs: number;
}

export interface NodeSpoolStats extends SpoolStats {
  /** Records acknowledged since open. */
  appends: number;
  /** Write batches: appends / appendBatches is the group-commit factor. */
  appendBatches: number;
  /** Data fdatasyncs (segment directory syncs not counted). */
  fsyncs: number;
  /** Failed writes or syncs (appends rejected with SPW_ERR_SPOOL_IO, or interval syncs that failed). */
  ioErrors: number;
  checkpointWrites: number;
  checkpointErrors: number;
  /** Records found damaged when read back after recovery, copied aside and skipped. */
  corruptRecords: number;
  readsFromCache: number;
  readsFromDisk: number;
  /** Bytes in the write queue, not yet acknowledged. */
  queuedBytes: number;
}

interface Pending {
  hdr: Buffer;
  rec: SpoolRecord;
  size: number;
  resolve: (offset: number) => void;
  reject: (err: Error) => void;
}

interface Part {
  seg: Segment;
  fresh: boolean;
  pos: number;
  bytes: number;
  bufs: Buffer[];
  recs: Pending[];
}

type DiskRead = SpoolRecord | 'corrupt' | 'gone';

function shuttingDown(nodeId: string): SpillwayError {
  return new SpillwayError('SPW_ERR_SHUTTING_DOWN', `spool of node ${nodeId} is closing`);
}

export class FileNodeSpool implements NodeSpool {
  readonly nodeId: string;
  readonly dir: string;
  readonly recovery: RecoveryReport;

  private readonly opts: NodeSpoolOptions;
  private readonly io: SpoolIo;
  private readonly log: SpoolLog;
  private readonly now: () => number;
  private readonly fsyncAlways: boolean;
  private readonly checkpointInterval: number;

  /** Live segments in offset order; the last one may be the writer's. */
  private segments: Segment[] = [];
  private cur: Segment | null = null;
  /** Where the next frame goes. */
  private writeEnd = 0;
  /** End of acknowledged records: the reader's horizon (writeOffset). */
  private visibleEnd = 0;
  private rOffset = 0;
  private durableCheckpoint = 0;

  private pBytes = 0;
  private pRecords = 0;
  private pSamples = 0;
  private oldestAt = 0;
  private diskBytes = 0;
  private droppedRecords = 0;
  private droppedSamples = 0;
  private readonly counters = {
    appends: 0,
    appendBatches: 0,
    fsyncs: 0,
    ioErrors: 0,
    checkpointWrites: 0,
    checkpointErrors: 0,
    corruptRecords: 0,
    readsFromCache: 0,
    readsFromDisk: 0,
  };

  private queue: Pending[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | null = null;
  /** A segment whose failed batch could not be truncated away yet. */
  private repair: { seg: Segment; size: number } | null = null;

  private readonly cache = new Map<number, SpoolRecord>();
  private cacheList: (SpoolRecord | undefined)[] = [];
  private cacheHead = 0;
  private cacheBytes = 0;

  private waiters: { offset: number; resolve: () => void }[] = [];

  private ckptTimer: NodeJS.Timeout | null = null;
  private ckptRunning: Promise<void> | null = null;
  private readonly dirty = new Set<Segment>();
  private syncTimer: NodeJS.Timeout | null = null;
  private syncRunning: Promise<void> | null = null;

  /** Reader drain rate (bytes/s, smoothed) for Retry-After estimates. */
  private drainRate = 0;
  private drainBytes = 0;
  private drainSince = 0;

  private closing: Promise<void> | null = null;
  private closed = false;

  private constructor(dir: string, nodeId: string, opts: NodeSpoolOptions) {
    validateOptions(opts);
    this.dir = dir;
    this.nodeId = nodeId;
    this.opts = opts;
    this.io = { ...defaultIo, ...opts.io };
    this.log = opts.log ?? silentLog;
    this.now = opts.now ?? Date.now;
    this.fsyncAlways = opts.fsync === 'always';
    this.checkpointInterval = opts.checkpointIntervalMs ?? 1000;
    this.recovery = {
      node: nodeId,
      dir,
      checkpoint: null,
      readOffset: 0,
      writeOffset: 0,
      segments: 0,
      records: 0,
      bytes: 0,
      samples: 0,
      truncatedBytes: 0,
      movedAside: [],
      deletedSegments: 0,
      problems: [],
      durationMs: 0,
    };
    this.drainSince = this.now();
  }

  /**
   * Opens (creating if needed) the queue of `nodeId` in `dir` and recovers it: verify every
   * pending frame, repair what a crash left, build the in-memory index. The caller holds the
   * spool-path lock (see spool-set.ts).
   */
  static async open(dir: string, nodeId: string, opts: NodeSpoolOptions): Promise<FileNodeSpool> {
    const s = new FileNodeSpool(dir, nodeId, opts);
    try {
      s.prepareDirSync();
      s.recoverSync();
      await s.openWriter();
    } catch (err) {
      if (err instanceof SpillwayError) throw err;
      // A spool disk that cannot even be repaired (read-only, failing): stop startup, say where.
      throw new SpillwayError('SPW_ERR_SPOOL_IO', `opening the spool of node ${nodeId} in ${dir}: ${errCode(err) ?? String(err)}`, { cause: err });
    }
    return s;
  }

  get readOffset(): number {
    return this.rOffset;
  }

  get writeOffset(): number {
    return this.visibleEnd;
  }

  // ---------------------------------------------------------------- open and recovery

  private prepareDirSync(): void {
    const fresh = !fs.existsSync(this.dir);
    fs.mkdirSync(this.dir, { recursive: true });
    if (fresh) syncDirSync(`${this.dir}/..`);
    let named: string | null = null;
    try {
      named = (JSON.parse(fs.readFileSync(`${this.dir}/${NODE_FILE}`, 'utf8')) as { node?: unknown }).node as string;
    } catch (err) {
      if (errCode(err) !== 'ENOENT') this.recovery.problems.push(`${NODE_FILE} unreadable (${String(err)}); rewritten`);
    }
    if (named !== null && named !== this.nodeId) {
      throw new SpillwayError('SPW_ERR_SPOOL_CORRUPT', `${this.dir}/${NODE_FILE} names node ${JSON.stringify(named)}, expected ${JSON.stringify(this.nodeId)}`);
    }
    if (named === null) writeFileAtomicSync(this.dir, NODE_FILE, `${JSON.stringify({ node: this.nodeId })}\n`);
    for (const leftover of [`${this.dir}/checkpoint.tmp`, `${this.dir}/${NODE_FILE}.tmp`]) fs.rmSync(leftover, { force: true });
  }

  private recoverSync(): void {
    const t0 = Date.now();
    const rep = this.recovery;
    const dir = this.dir;
    const ck = readCheckpointSync(dir);
    if (ck.offset === null && ck.problem) {
      // Without a trustworthy checkpoint the whole queue is pending: re-sending is safe, skipping is not.
      rep.problems.push(`${ck.problem}; resending the whole queue`);
    }
    const names = fs.readdirSync(dir).filter((n) => SEGMENT_NAME.test(n)).sort();
    const starts = names.map((n) => parseInt(n, 16));
    const checkpoint = ck.offset ?? (starts[0] ?? 0);
    rep.checkpoint = ck.offset;

    const buf = Buffer.allocUnsafe(1 << 20);
    let dirChanged = false;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const start = starts[k]!;
      const path = `${dir}/${name}`;
      const limit = (starts[k + 1] ?? Infinity) - start;
      let size: number;
      let fd: number;
      try {
        const st = fs.statSync(path);
        if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
        size = st.size;
        if (start + size <= checkpoint) {
          // Delivered and checkpointed before the stop; the deletion just had not happened.
          fs.unlinkSync(path);
          rep.deletedSegments++;
          dirChanged = true;
          continue;
        }
        fd = fs.openSync(path, 'r+');
      } catch (err) {
        this.moveAsideSync(path, name, start, 'unreadable', err);
        dirChanged = true;
        continue;
      }
      const seg = newSegment(dir, start);
      const from = Math.max(0, checkpoint - start);
      try {
        const r = scanSegmentSync(fd, size, from, limit, seg.idx, buf);
        seg.size = r.goodEnd;
        if (r.stop !== null) {
          this.cutTailSync(fd, path, name, start, r.goodEnd, size, r.stop, buf);
        }
        rep.records += r.records;
        rep.samples += r.samples;
        rep.bytes += r.goodEnd - from;
      } catch (err) {
        // An I/O error mid-scan: the file cannot be trusted as a whole. Keep all of it aside.
        fs.closeSync(fd);
        seg.idx.truncate(0);
        this.moveAsideSync(path, name, start, 'unreadable', err);
        dirChanged = true;
        continue;
      }
      fs.closeSync(fd);
      if (seg.size <= from) {
        // Nothing pending in it (empty, or everything after the checkpoint was cut).
        fs.unlinkSync(path);
        dirChanged = true;
        continue;
      }
      this.segments.push(seg);
    }
    if (dirChanged) syncDirSync(dir);

    let pendingBytes = 0;
    for (const seg of this.segments) {
      this.diskBytes += seg.size;
      pendingBytes += seg.size - Math.max(0, checkpoint - seg.start);
      this.pRecords += seg.idx.n;
      this.pSamples += seg.idx.sumSamples(0, seg.idx.n);
    }
    this.pBytes = pendingBytes;
    const last = this.segments[this.segments.length - 1];
    // Offsets never go backwards: a checkpoint past the data (its tail was lost) still wins.
    this.writeEnd = Math.max(last ? last.start + last.size : 0, checkpoint);
    this.visibleEnd = this.writeEnd;
    this.rOffset = Math.min(checkpoint, this.writeEnd);
    this.durableCheckpoint = ck.offset ?? -1;
    this.oldestAt = this.firstPendingAt();

    rep.readOffset = this.rOffset;
    rep.writeOffset = this.writeEnd;
    rep.segments = this.segments.length;
    rep.durationMs = Date.now() - t0;
    if (rep.movedAside.length > 0 || rep.truncatedBytes > 0 || rep.problems.length > 0) {
      this.log.warn({ ...rep }, 'spool recovered with repairs; damaged data kept under corrupt/');
    } else {
      this.log.info({ node: this.nodeId, records: rep.records, bytes: rep.bytes, ms: rep.durationMs }, 'spool recovered');
    }
  }

  /**
   * Truncates a segment after its last good record. The bytes cut are copied to corrupt/ first
   * (durably) unless they are all zeros, so nothing is deleted silently: a torn tail is almost
   * always an unacknowledged write, but a bit flip in a length field looks the same.
   */
  private cutTailSync(fd: number, path: string, name: string, start: number, goodEnd: number, size: number, stop: ScanStop, buf: Buffer): void {
    const rep = this.recovery;
    const bytes = size - goodEnd;
    if (stop !== 'zero-tail') {
      const file = `${this.corruptDirSync()}/${name}@${segmentName(start + goodEnd)}.${stamp(Date.now())}.${stop}`;
      copyRangeSync(fd, goodEnd, size, file, buf);
      syncDirSync(`${this.dir}/${CORRUPT_DIR}`);
      rep.movedAside.push({ file, from: path, offset: start + goodEnd, bytes, reason: stop });
    }
    fs.ftruncateSync(fd, goodEnd);
    fs.fsyncSync(fd);
    rep.truncatedBytes += bytes;
    rep.problems.push(`${name}: ${stop} at offset ${start + goodEnd}, ${bytes} bytes cut${stop === 'zero-tail' ? '' : ' (copied to corrupt/)'}`);
  }

  private moveAsideSync(path: string, name: string, start: number, reason: 'unreadable', err: unknown): void {
    const file = `${this.corruptDirSync()}/${name}.${stamp(Date.now())}.${reason}`;
    let bytes = 0;
    try {
      bytes = fs.statSync(path).size;
    } catch {
      // size unknown
    }
    fs.renameSync(path, file);
    syncDirSync(`${this.dir}/${CORRUPT_DIR}`);
    this.recovery.movedAside.push({ file, from: path, offset: start, bytes, reason });
    this.recovery.problems.push(`${name}: unreadable (${errCode(err) ?? String(err)}), moved to corrupt/`);
  }

  private corruptDirSync(): string {
    const d = `${this.dir}/${CORRUPT_DIR}`;
    if (!fs.existsSync(d)) {
      fs.mkdirSync(d);
      syncDirSync(this.dir);
    }
    return d;
  }

  private async openWriter(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    if (last && last.start + last.size === this.writeEnd && last.size < this.opts.segmentSize) {
      last.wfh = await open(last.path, 'r+');
      this.cur = last;
    }
  }

  // ---------------------------------------------------------------- append (group commit)

  /**
   * `bytes` is the data size of the record about to be appended (the frame header is added
   * here). The size cap counts pending records plus queued appends, not segment files: disk use
   * can exceed -spool.maxDiskUsagePerNode by the delivered head of the oldest segment and by
   * segments awaiting the next checkpoint. drop-oldest never throws SPW_ERR_SPOOL_FULL.
   */
  checkCapacity(bytes: number): void {
    if (this.closing) throw shuttingDown(this.nodeId);
    const o = this.opts;
    const need = bytes + FRAME_HEADER;
    if (o.maxAgeMs > 0 && this.oldestAt > 0) {
      const cutoff = this.now() - o.maxAgeMs;
      if (this.oldestAt < cutoff) {
        if (o.onFull === 'reject') {
          const age = Math.round((this.now() - this.oldestAt) / 1000);
          throw new SpillwayError('SPW_ERR_SPOOL_FULL', `spool of node ${this.nodeId}: oldest pending record is ${age}s old, over -spool.maxAge`, {
            retryAfter: this.retryAfter(need),
          });
        }
        this.dropOlderThan(cutoff);
      }
    }
    if (o.maxDiskUsagePerNode > 0) {
      const over = this.pBytes + this.queuedBytes + need - o.maxDiskUsagePerNode;
      if (over > 0) {
        if (o.onFull === 'reject') {
          throw new SpillwayError(
            'SPW_ERR_SPOOL_FULL',
            `spool of node ${this.nodeId}: ${this.pBytes + this.queuedBytes} bytes pending + ${need} would exceed -spool.maxDiskUsagePerNode=${o.maxDiskUsagePerNode}`,
            { retryAfter: this.retryAfter(over) },
          );
        }
        this.dropForSpace(over);
      }
    }
  }

  /**
   * Queues the record and resolves with its offset once it is durable (-spool.fsync=always:
   * after the fdatasync of the batch it joined) or written (interval mode). The spool keeps a
   * reference to rec.data for its memory cache: the caller must not modify it afterwards.
   */
  append(rec: AppendInput): Promise<void> {
    // The promise carries the offset; callers typed by NodeSpool just ignore it.
    return this.appendAt(rec) as Promise<unknown> as Promise<void>;
  }

  /** append() resolving with the offset the record got. */
  appendAt(rec: AppendInput): Promise<number> {
    if (this.closing) return Promise.reject(shuttingDown(this.nodeId));
    const appendedAt = this.now();
    let hdr: Buffer;
    try {
      hdr = encodeHeader(rec, appendedAt, rec.data);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const size = FRAME_HEADER + rec.data.length;
    const out: SpoolRecord = {
      kind: rec.kind,
      accountID: rec.accountID,
      projectID: rec.projectID,
      series: rec.series,
      samples: rec.samples,
      minTs: rec.minTs,
      maxTs: rec.maxTs,
      data: rec.data,
      offset: -1,
      nextOffset: -1,
      appendedAt,
    };
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ hdr, rec: out, size, resolve, reject });
      this.queuedBytes += size;
      if (this.flushing === null) this.flushing = this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    // Let every append made in the current tick join the first batch.
    await undefined;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let bytes = 0;
      for (const p of batch) bytes += p.size;
      try {
        await this.writeBatch(batch);
        this.queuedBytes -= bytes;
        this.counters.appendBatches++;
        this.counters.appends += batch.length;
        for (const p of batch) p.resolve(p.rec.offset);
      } catch (err) {
        this.queuedBytes -= bytes;
        this.counters.ioErrors++;
        const e =
          err instanceof SpillwayError
            ? err
            : new SpillwayError('SPW_ERR_SPOOL_IO', `spool of node ${this.nodeId}: ${errCode(err) ?? 'error'} writing ${batch.length} record(s) (nothing of them kept)`, {
                cause: err,
              });
        this.log.error({ node: this.nodeId, err, records: batch.length, bytes }, 'spool append failed');
        for (const p of batch) p.reject(e);
      }
    }
    this.flushing = null;
  }

  /**
   * Writes one batch and, with fsync=always, syncs it. All-or-nothing as seen from outside: on
   * any error the files are cut back to where they were and no in-memory state has changed.
   */
  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.repair) await this.tryRepair();
    const segmentSize = this.opts.segmentSize;
    const parts: Part[] = [];
    let seg = this.cur;
    let fill = seg ? seg.size : 0;
    let part: Part | null = null;
    let off = this.writeEnd;
    for (const p of batch) {
      // Rotate when the record does not fit; an oversized record gets a segment of its own.
      if (seg === null || (fill > 0 && fill + p.size > segmentSize)) {
        seg = newSegment(this.dir, off);
        fill = 0;
      }
      if (part === null || part.seg !== seg) {
        part = { seg, fresh: seg !== this.cur, pos: fill, bytes: 0, bufs: [], recs: [] };
        parts.push(part);
      }
      p.rec.offset = off;
      p.rec.nextOffset = off + p.size;
      part.bufs.push(p.hdr, p.rec.data as Buffer);
      part.bytes += p.size;
      part.recs.push(p);
      fill += p.size;
      off += p.size;
    }

    const created: Segment[] = [];
    try {
      for (const pt of parts) {
        if (pt.fresh) {
          // 'w', not 'wx': a file at an offset >= writeEnd can only be the leftover of a failed
          // batch whose cleanup failed too; its bytes were never acknowledged.
          pt.seg.wfh = await open(pt.seg.path, 'w');
          created.push(pt.seg);
          // The new name must be durable before any record in it is acknowledged.
          await syncDir(this.dir);
        }
        await writeAll(this.io, pt.seg.wfh!, pt.bufs, pt.pos, pt.bytes);
      }
      if (this.fsyncAlways) {
        for (const pt of parts) {
          await this.io.sync(pt.seg.wfh!);
          this.counters.fsyncs++;
        }
      }
    } catch (err) {
      await this.rollback(parts, created);
      throw err;
    }

    // Success: publish.
    const wasEmpty = this.pRecords === 0;
    const oldCur = this.cur;
    for (const pt of parts) {
      const s = pt.seg;
      if (pt.fresh) this.segments.push(s);
      for (const p of pt.recs) {
        s.idx.push(p.rec.offset - s.start, p.rec.samples, p.rec.appendedAt);
        this.pSamples += p.rec.samples;
        this.cachePut(p.rec);
      }
      s.size += pt.bytes;
      this.diskBytes += pt.bytes;
      this.pBytes += pt.bytes;
      this.pRecords += pt.recs.length;
    }
    const newCur = parts[parts.length - 1]!.seg;
    if (newCur !== oldCur) {
      for (const s of oldCur ? [oldCur, ...parts.map((x) => x.seg)] : parts.map((x) => x.seg)) {
        if (s !== newCur && s.wfh) this.retireWriter(s);
      }
      this.cur = newCur;
    }
    if (!this.fsyncAlways) for (const pt of parts) this.dirty.add(pt.seg);
    this.writeEnd = off;
    this.visibleEnd = off;
    if (wasEmpty) this.oldestAt = batch[0]!.rec.appendedAt;
    this.wake();
    if (!this.fsyncAlways) this.armSync();
  }

  /** A segment the writer left: synced already (always) or at the next interval sync. */
  private retireWriter(s: Segment): void {
    if (!this.fsyncAlways) {
      this.dirty.add(s); // syncDirty syncs and closes it
      return;
    }
    const fh = s.wfh!;
    s.wfh = null;
    fh.close().catch((err: unknown) => this.log.warn({ node: this.nodeId, err, file: s.path }, 'closing a segment failed'));
  }

  private async rollback(parts: Part[], created: Segment[]): Promise<void> {
    for (const s of created) {
      try {
        await s.wfh?.close();
      } catch {
        // closing a file we are removing
      }
      s.wfh = null;
      try {
        await unlink(s.path);
      } catch (err) {
        if (errCode(err) !== 'ENOENT') this.log.warn({ node: this.nodeId, err, file: s.path }, 'removing a failed segment failed; it is overwritten by the next write');
      }
    }
    if (created.length > 0) await syncDir(this.dir).catch(() => {});
    const first = parts[0];
    if (first && !first.fresh) {
      try {
        await first.seg.wfh!.truncate(first.pos);
      } catch (err) {
        // The next batch writes over the same range anyway; retry the cut before it.
        this.repair = { seg: first.seg, size: first.pos };
        this.log.warn({ node: this.nodeId, err, file: first.seg.path }, 'cutting back a failed write failed; retrying before the next write');
      }
    }
  }

  private async tryRepair(): Promise<void> {
    const r = this.repair!;
    if (r.seg !== this.cur || !r.seg.wfh || r.seg.size !== r.size) {
      this.repair = null;
      return;
    }
    try {
      await r.seg.wfh.truncate(r.size);
      this.repair = null;
    } catch {
      // still failing: the batch will most likely fail too and report it
    }
  }

  private armSync(): void {
    if (this.syncTimer !== null || this.closing) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      void this.syncDirty();
    }, this.opts.fsync as number);
    this.syncTimer.unref();
  }

  /**
   * Interval mode: fdatasync what was written since the last pass. Appends were acknowledged
   * already; a failure here cannot un-acknowledge them, so it is counted and logged loudly.
   */
  private syncDirty(): Promise<void> {
    const run = async (): Promise<void> => {
      const segs = [...this.dirty];
      this.dirty.clear();
      for (const s of segs) {
        if (!s.wfh) continue;
        try {
          await this.io.sync(s.wfh);
          this.counters.fsyncs++;
        } catch (err) {
          this.counters.ioErrors++;
          this.log.error({ node: this.nodeId, err, file: s.path }, 'spool fsync failed; records of the last interval may not survive a power loss');
        }
        // A segment that grew while this sync ran (and may have rotated meanwhile) is back in
        // `dirty`: keep its writer open so the next pass syncs those bytes before closing it.
        if (s !== this.cur && !this.dirty.has(s)) {
          const fh = s.wfh;
          s.wfh = null;
          await fh.close().catch(() => {});
        }
      }
    };
    const p: Promise<void> = (this.syncRunning ?? Promise.resolve()).then(run).finally(() => {
      if (this.syncRunning === p) this.syncRunning = null;
    });
    this.syncRunning = p;
    return p;
  }

  // ---------------------------------------------------------------- read side

  /**
   * The record at `offset`, or null at the write end. An offset in a gap or at the end of a
   * segment yields the next record. An offset below readOffset (the reader was overtaken by
   * -spool.onFull=drop-oldest) yields the record at readOffset: compare rec.offset with the
   * offset asked for to notice. A record found damaged on disk is copied to corrupt/, counted
   * (corruptRecords) and skipped.
   */
  async read(offset: number): Promise<SpoolRecord | null> {
    for (;;) {
      if (this.closing) throw shuttingDown(this.nodeId);
      if (offset < this.rOffset) offset = this.rOffset;
      if (offset >= this.visibleEnd) return null;
      const hit = this.cache.get(offset);
      if (hit !== undefined) {
        this.counters.readsFromCache++;
        return hit;
      }
      const loc = this.locate(offset);
      if (loc === null) return null;
      const at = loc.seg.start + loc.seg.idx.rel[loc.i]!;
      if (at !== offset) {
        offset = at; // jumped a gap: the record may be cached
        continue;
      }
      const r = await this.readFromDisk(loc.seg, loc.i);
      if (r === 'gone') continue; // deleted under us by a drop: restart from readOffset
      if (r === 'corrupt') {
        offset = this.recordEnd(loc.seg, loc.i);
        continue;
      }
      this.counters.readsFromDisk++;
      return r;
    }
  }

  /** Resolves once a record exists at or after max(offset, readOffset), or the spool is closing. */
  waitForData(offset: number): Promise<void> {
    // An overtaken cursor waits for what read() would return, not for data it will skip.
    if (offset < this.rOffset) offset = this.rOffset;
    if (this.visibleEnd > offset || this.closing) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ offset, resolve }));
  }

  /**
   * Moves the reader past delivered records. Resolves at once (the sender need not wait for
   * disk); the checkpoint file follows within checkpointIntervalMs, and consumed segments are
   * deleted after it is durable. Offsets at or below readOffset are ignored (stale or
   * overtaken); an offset that is not a record boundary is a RangeError.
   */
  commit(nextOffset: number): Promise<void> {
    if (this.closed || !(nextOffset > this.rOffset)) return Promise.resolve();
    if (nextOffset > this.visibleEnd || !this.isBoundary(nextOffset)) {
      return Promise.reject(new RangeError(`spool of node ${this.nodeId}: commit(${nextOffset}) is not a record boundary in [${this.rOffset}, ${this.visibleEnd}]`));
    }
    const moved = this.advanceReader(nextOffset);
    this.noteDrain(moved.bytes);
    this.scheduleCheckpoint(false);
    return Promise.resolve();
  }

  /** Makes the current readOffset durable now and deletes consumed segments. */
  async flushCheckpoint(): Promise<void> {
    if (this.ckptTimer !== null) {
      clearTimeout(this.ckptTimer);
      this.ckptTimer = null;
    }
    while (this.ckptRunning) await this.ckptRunning;
    if (this.durableCheckpoint < this.rOffset) await this.runCheckpoint();
  }

  stats(): NodeSpoolStats {
    return {
      pendingBytes: this.pBytes,
      pendingRecords: this.pRecords,
      pendingSamples: this.pSamples,
      oldestAppendedAt: this.oldestAt,
      droppedRecords: this.droppedRecords,
      droppedSamples: this.droppedSamples,
      diskBytes: this.diskBytes,
      queuedBytes: this.queuedBytes,
      ...this.counters,
    };
  }

  /** Stops appends (SPW_ERR_SHUTTING_DOWN), finishes queued ones, syncs, writes the checkpoint. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    while (this.flushing) await this.flushing;
    if (this.syncTimer !== null) {
      clearTimeout(this.syncTimer);
      this.syncTimer = null;
    }
    if (!this.fsyncAlways) await this.syncDirty();
    while (this.syncRunning) await this.syncRunning;
    await this.flushCheckpoint();
    this.closed = true;
    for (const s of this.segments) {
      if (s.wfh) await s.wfh.close().catch(() => {});
      s.wfh = null;
      if (s.readers === 0) this.closeReader(s);
    }
    this.cache.clear();
    this.cacheList = [];
  }

  // ---------------------------------------------------------------- internals: reading

  /** Segment index of the first segment ending after `offset` (the one holding it, or the next). */
  private segAt(offset: number): number {
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.segments[mid]!;
      if (s.start + s.size <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The record at `offset`, or the first one after it when offset is in a gap; null past the end. */
  private locate(offset: number): { seg: Segment; i: number } | null {
    for (let k = this.segAt(offset); k < this.segments.length; k++) {
      const seg = this.segments[k]!;
      if (offset <= seg.start) {
        if (seg.idx.n > 0) return { seg, i: 0 }; // at or before a segment start: its first record
        continue;
      }
      const i = seg.idx.find(offset - seg.start);
      if (i < 0) throw new RangeError(`spool of node ${this.nodeId}: ${offset} is not a record boundary`);
      return { seg, i };
    }
    return null;
  }

  private isBoundary(offset: number): boolean {
    if (offset === this.visibleEnd) return true;
    const k = this.segAt(offset);
    const seg = this.segments[k];
    if (!seg || offset < seg.start) return true; // in a gap before the next segment
    return seg.idx.find(offset - seg.start) >= 0;
  }

  private recordEnd(seg: Segment, i: number): number {
    return seg.start + (i + 1 < seg.idx.n ? seg.idx.rel[i + 1]! : seg.size);
  }

  private async readFromDisk(seg: Segment, i: number): Promise<DiskRead> {
    const rel = seg.idx.rel[i]!;
    const len = this.recordEnd(seg, i) - seg.start - rel;
    seg.readers++;
    try {
      seg.rfh ??= open(seg.path, 'r');
      const fh = await seg.rfh;
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, rel + got);
        if (bytesRead === 0) throw Object.assign(new Error(`${seg.path} ends before offset ${rel + len}`), { code: 'EIO' });
        got += bytesRead;
      }
      if (frameLength(buf, 0) + 8 !== len || !frameCrcOk(buf, 0)) {
        await this.setAsideRecord(seg, rel, buf);
        return 'corrupt';
      }
      return decodeFrame(buf, seg.start + rel);
    } catch (err) {
      if (seg.deleted) return 'gone';
      seg.rfh = null;
      throw new SpillwayError('SPW_ERR_SPOOL_IO', `spool of node ${this.nodeId}: ${errCode(err) ?? 'error'} reading ${seg.path} at ${rel}`, { cause: err });
    } finally {
      seg.readers--;
      if (seg.readers === 0 && (seg.deleted || this.closed)) this.closeReader(seg);
    }
  }

  private closeReader(seg: Segment): void {
    const p = seg.rfh;
    seg.rfh = null;
    if (p) p.then((fh) => fh.close()).catch(() => {});
  }

  /** A record that passed recovery but fails its CRC now (the disk changed it): keep a copy, skip it. */
  private async setAsideRecord(seg: Segment, rel: number, bytes: Buffer): Promise<void> {
    this.counters.corruptRecords++;
    const offset = seg.start + rel;
    const dir = `${this.dir}/${CORRUPT_DIR}`;
    const file = `${dir}/${segmentName(seg.start)}@${segmentName(offset)}.${stamp(this.now())}.read-bad-crc`;
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      await writeFile(file, bytes, { flag: 'wx' });
      this.log.error({ node: this.nodeId, offset, bytes: bytes.length, file }, 'spool record damaged on disk; copied aside and skipped');
    } catch (err) {
      this.log.error({ node: this.nodeId, offset, bytes: bytes.length, err }, 'spool record damaged on disk and could not be copied aside; skipped');
    }
  }

  private cachePut(rec: SpoolRecord): void {
    const max = this.opts.memoryCacheBytes;
    if (max <= 0) return;
    this.cache.set(rec.offset, rec);
    this.cacheList.push(rec);
    this.cacheBytes += FRAME_HEADER + rec.data.length;
    while (this.cacheBytes > max && this.cacheHead < this.cacheList.length) this.cacheEvict();
  }

  private cacheEvictBelow(offset: number): void {
    while (this.cacheHead < this.cacheList.length && this.cacheList[this.cacheHead]!.offset < offset) this.cacheEvict();
  }

  private cacheEvict(): void {
    const rec = this.cacheList[this.cacheHead]!;
    this.cacheList[this.cacheHead++] = undefined;
    this.cache.delete(rec.offset);
    this.cacheBytes -= FRAME_HEADER + rec.data.length;
    // Compact now and then instead of shift()ing on every eviction.
    if (this.cacheHead > 1024 && this.cacheHead * 2 > this.cacheList.length) {
      this.cacheList = this.cacheList.slice(this.cacheHead);
      this.cacheHead = 0;
    }
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const keep: { offset: number; resolve: () => void }[] = [];
    for (const w of this.waiters) {
      if (this.visibleEnd > w.offset) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  // ---------------------------------------------------------------- internals: reader position

  private firstPendingAt(): number {
    const loc = this.rOffset < this.visibleEnd ? this.locate(this.rOffset) : null;
    return loc ? loc.seg.idx.at[loc.i]! : 0;
  }

  /** Moves readOffset to `to` and takes the records in between out of the pending counts. */
  private advanceReader(to: number): { records: number; samples: number; bytes: number } {
    let records = 0;
    let samples = 0;
    let bytes = 0;
    for (let k = this.segAt(this.rOffset); k < this.segments.length; k++) {
      const seg = this.segments[k]!;
      if (seg.start >= to) break;
      const idx = seg.idx;
      const i0 = idx.lowerBound(Math.max(this.rOffset, seg.start) - seg.start);
      const i1 = to >= seg.start + seg.size ? idx.n : idx.lowerBound(to - seg.start);
      records += i1 - i0;
      samples += idx.sumSamples(i0, i1);
      bytes += (i1 < idx.n ? idx.rel[i1]! : seg.size) - (i0 < idx.n ? idx.rel[i0]! : seg.size);
    }
    this.rOffset = to;
    this.pRecords -= records;
    this.pSamples -= samples;
    this.pBytes -= bytes;
    this.oldestAt = this.firstPendingAt();
    this.cacheEvictBelow(to);
    return { records, samples, bytes };
  }

  private noteDrain(bytes: number): void {
    this.drainBytes += bytes;
    const now = this.now();
    const dt = now - this.drainSince;
    if (dt >= 1000) {
      const rate = (this.drainBytes * 1000) / dt;
      this.drainRate = this.drainRate === 0 ? rate : 0.7 * this.drainRate + 0.3 * rate;
      this.drainBytes = 0;
      this.drainSince = now;
    }
  }

  /** Seconds until the reader has likely freed `bytes`, from its recent pace; 1..60. */
  private retryAfter(bytes: number): number {
    if (this.drainRate <= 0) return 10;
    return Math.min(60, Math.max(1, Math.ceil(bytes / this.drainRate)));
  }

  private dropped(d: { records: number; samples: number; bytes: number }, why: string): void {
    if (d.records === 0) return;
    this.droppedRecords += d.records;
    this.droppedSamples += d.samples;
    this.log.warn({ node: this.nodeId, records: d.records, samples: d.samples, bytes: d.bytes, readOffset: this.rOffset }, `spool dropped oldest records: ${why}`);
    this.scheduleCheckpoint(true);
  }

  /** -spool.maxAge with drop-oldest: skip every record appended before `cutoff`. */
  private dropOlderThan(cutoff: number): void {
    let to = this.rOffset;
    for (let k = this.segAt(this.rOffset); k < this.segments.length; k++) {
      const seg = this.segments[k]!;
      const idx = seg.idx;
      if (idx.n > 0 && idx.at[idx.n - 1]! < cutoff) {
        to = seg.start + seg.size; // the whole rest of the segment is too old
        continue;
      }
      let i = idx.lowerBound(Math.max(to, seg.start) - seg.start);
      while (i < idx.n && idx.at[i]! < cutoff) i++;
      to = i < idx.n ? seg.start + idx.rel[i]! : seg.start + seg.size;
      break;
    }
    if (to > this.rOffset) this.dropped(this.advanceReader(Math.min(to, this.visibleEnd)), 'older than -spool.maxAge');
  }

  /** -spool.maxDiskUsagePerNode with drop-oldest: skip whole segments (they free disk), then records of the writer's one. */
  private dropForSpace(over: number): void {
    let to = this.rOffset;
    let freed = 0;
    for (let k = this.segAt(this.rOffset); k < this.segments.length && freed < over; k++) {
      const seg = this.segments[k]!;
      const idx = seg.idx;
      let i = idx.lowerBound(Math.max(to, seg.start) - seg.start);
      if (seg !== this.cur) {
        freed += seg.size - (i < idx.n ? idx.rel[i]! : seg.size);
        to = seg.start + seg.size;
        continue;
      }
      while (i < idx.n && freed < over) {
        freed += (i + 1 < idx.n ? idx.rel[i + 1]! : seg.size) - idx.rel[i]!;
        i++;
      }
      to = i < idx.n ? seg.start + idx.rel[i]! : seg.start + seg.size;
    }
    if (to > this.rOffset) this.dropped(this.advanceReader(Math.min(to, this.visibleEnd)), 'over -spool.maxDiskUsagePerNode');
  }

  // ---------------------------------------------------------------- internals: checkpoint

  private scheduleCheckpoint(now: boolean): void {
    if (this.closed) return;
    if (now && this.ckptTimer !== null) {
      clearTimeout(this.ckptTimer);
      this.ckptTimer = null;
    }
    if (this.ckptTimer !== null || this.ckptRunning !== null) return; // the running one reschedules
    if (this.durableCheckpoint >= this.rOffset) return;
    if (now || this.checkpointInterval <= 0) {
      void this.runCheckpoint();
      return;
    }
    this.ckptTimer = setTimeout(() => {
      this.ckptTimer = null;
      if (this.durableCheckpoint < this.rOffset) void this.runCheckpoint();
    }, this.checkpointInterval);
    this.ckptTimer.unref();
  }

  private runCheckpoint(): Promise<void> {
    if (this.ckptRunning) return this.ckptRunning;
    const run = async (): Promise<void> => {
      const off = this.rOffset;
      try {
        await writeCheckpoint(this.dir, off);
        this.durableCheckpoint = off;
        this.counters.checkpointWrites++;
        await this.deleteConsumed();
      } catch (err) {
        // Nothing is lost: the segments stay, and a crash re-sends a little more.
        this.counters.checkpointErrors++;
        this.log.warn({ node: this.nodeId, err, offset: off }, 'writing the spool checkpoint failed; retrying');
      }
    };
    this.ckptRunning = run().finally(() => {
      this.ckptRunning = null;
      if (this.durableCheckpoint < this.rOffset && !this.closing) this.scheduleCheckpoint(false);
    });
    return this.ckptRunning;
  }

  /** Deletes segments wholly below the durable checkpoint (never the writer's). */
  private async deleteConsumed(): Promise<void> {
    let deleted = false;
    while (this.segments.length > 0) {
      const seg = this.segments[0]!;
      if (seg === this.cur || seg.wfh !== null || seg.start + seg.size > this.durableCheckpoint) break;
      this.segments.shift();
      seg.deleted = true;
      this.diskBytes -= seg.size;
      if (seg.readers === 0) this.closeReader(seg);
      try {
        await unlink(seg.path);
        deleted = true;
      } catch (err) {
        if (errCode(err) !== 'ENOENT') this.log.warn({ node: this.nodeId, err, file: seg.path }, 'deleting a consumed segment failed; it is deleted at the next start');
      }
    }
    if (deleted) await syncDir(this.dir);
  }
}

function validateOptions(o: NodeSpoolOptions): void {
  const bad = (what: string): never => {
    throw new SpillwayError('SPW_ERR_CONFIG', `spool: ${what}`);
  };
  if (!Number.isSafeInteger(o.segmentSize) || o.segmentSize < 1 || o.segmentSize > 0xffffffff) bad(`segmentSize must be an integer in [1, 4 GiB), got ${o.segmentSize}`);
  if (o.fsync !== 'always' && !(typeof o.fsync === 'number' && o.fsync >= 0 && Number.isFinite(o.fsync))) bad(`fsync must be 'always' or an interval in ms, got ${String(o.fsync)}`);
  if (!(o.maxDiskUsagePerNode >= 0)) bad('maxDiskUsagePerNode must be >= 0');
  if (!(o.maxAgeMs >= 0)) bad('maxAgeMs must be >= 0');
  if (o.onFull !== 'reject' && o.onFull !== 'drop-oldest') bad(`onFull must be 'reject' or 'drop-oldest', got ${String(o.onFull)}`);
  if (!(o.memoryCacheBytes >= 0)) bad('memoryCacheBytes must be >= 0');
}
