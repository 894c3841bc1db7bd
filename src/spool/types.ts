// The contract between ingest/route (writers), the spool, and deliver (the one reader per node).

/** What a record's data is, so a sender knows how to send it without re-encoding. */
export const enum RecordKind {
  /** A snappy-compressed Prometheus remote-write 1.0 WriteRequest, ready to POST. */
  PrwSnappy = 1,
  /** vmstorage MetricRow bytes, ready to frame into packets (native sender). */
  VmstorageRows = 2,
}

export interface RecordMeta {
  kind: RecordKind;
  accountID: number;
  projectID: number;
  series: number;
  samples: number;
  /** Smallest and largest sample timestamp (ms) inside. */
  minTs: number;
  maxTs: number;
}

export interface AppendInput extends RecordMeta {
  data: Buffer;
}

export interface SpoolRecord extends AppendInput {
  /** Byte offset of this record in the node queue. */
  offset: number;
  /** Offset of the following record: what to commit once this one is delivered. */
  nextOffset: number;
  /** Wall-clock ms when it was appended (for lag and -spool.maxAge). */
  appendedAt: number;
}

export interface SpoolStats {
  /** Bytes waiting between the reader checkpoint and the write end. */
  pendingBytes: number;
  pendingRecords: number;
  pendingSamples: number;
  /** appendedAt of the oldest unsent record, or 0 when empty. */
  oldestAppendedAt: number;
  /** Records dropped by -spool.onFull=drop-oldest or -spool.maxAge since start. */
  droppedRecords: number;
  droppedSamples: number;
  /** Bytes of segment files on disk. */
  diskBytes: number;
}

/** One durable FIFO per downstream node. */
export interface NodeSpool {
  readonly nodeId: string;
  /** Checkpoint: the offset the reader resumes from after a restart. */
  readonly readOffset: number;
  /** The offset the next append will get. */
  readonly writeOffset: number;
  /**
   * Throws SpillwayError(SPW_ERR_SPOOL_FULL) when the caps are hit with -spool.onFull=reject,
   * without appending. Called for every node of a request before any append, so a rejected
   * request leaves nothing behind.
   */
  checkCapacity(bytes: number): void;
  /** Appends; resolves once the record is durable per -spool.fsync (group commit). */
  append(rec: AppendInput): Promise<void>;
  /** The record at `offset`, or null when offset is the write end. Served from memory when recent. */
  read(offset: number): Promise<SpoolRecord | null>;
  /** Resolves when a record exists at `offset` (or the spool closes). */
  waitForData(offset: number): Promise<void>;
  /** Advance the reader checkpoint past delivered records; deletes consumed segments. */
  commit(nextOffset: number): Promise<void>;
  stats(): SpoolStats;
  close(): Promise<void>;
}

export interface SpoolOptions {
  /** -spool.path: the directory holding one sub-directory per node. */
  path: string;
  /** -spool.segmentSize: bytes per segment file before rotation. */
  segmentSize: number;
  /** -spool.fsync: 'always' fsyncs before every acknowledgement (group commit); a number is an interval in ms. */
  fsync: 'always' | number;
  /** -spool.maxDiskUsagePerNode: bytes; 0 = unlimited. */
  maxDiskUsagePerNode: number;
  /** -spool.maxAge: ms; 0 = unlimited. */
  maxAgeMs: number;
  /** -spool.onFull */
  onFull: 'reject' | 'drop-oldest';
  /** -spool.memoryCacheSize: bytes of recent records kept in memory per node. */
  memoryCacheBytes: number;
}
