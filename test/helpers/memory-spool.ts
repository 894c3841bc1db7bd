// An in-memory NodeSpool for testing senders and ingest without disk: same contract, no durability.

import { SpillwayError } from '../../src/errors.js';
import type { AppendInput, NodeSpool, SpoolRecord, SpoolStats } from '../../src/spool/types.js';

export class MemorySpool implements NodeSpool {
  readonly records: SpoolRecord[] = [];
  readOffset = 0;
  writeOffset = 0;
  commits: number[] = [];
  full = false;
  private waiters: { offset: number; resolve: () => void }[] = [];

  constructor(readonly nodeId: string) {}

  checkCapacity(): void {
    if (this.full) throw new SpillwayError('SPW_ERR_SPOOL_FULL', `node ${this.nodeId} spool is full`, { retryAfter: 10 });
  }
  async append(rec: AppendInput): Promise<void> {
    const size = rec.data.length + 40;
    this.records.push({ ...rec, offset: this.writeOffset, nextOffset: this.writeOffset + size, appendedAt: Date.now() });
    this.writeOffset += size;
    for (const w of this.waiters.splice(0)) w.resolve();
  }
  async read(offset: number): Promise<SpoolRecord | null> {
    return this.records.find((r) => r.offset === offset) ?? null;
  }
  waitForData(offset: number): Promise<void> {
    if (this.writeOffset > offset) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ offset, resolve }));
  }
  async commit(nextOffset: number): Promise<void> {
    this.commits.push(nextOffset);
    this.readOffset = nextOffset;
  }
  stats(): SpoolStats {
    const pending = this.records.filter((r) => r.offset >= this.readOffset);
    return {
      pendingBytes: this.writeOffset - this.readOffset,
      pendingRecords: pending.length,
      pendingSamples: pending.reduce((a, r) => a + r.samples, 0),
      oldestAppendedAt: pending[0]?.appendedAt ?? 0,
      droppedRecords: 0,
      droppedSamples: 0,
      diskBytes: 0,
    };
  }
  async close(): Promise<void> {
    for (const w of this.waiters.splice(0)) w.resolve();
  }
}
