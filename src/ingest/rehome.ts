// Queues of nodes that left the configuration are never deleted as they are: each record is
// ingested again through the current ring (so ≈1/N of series move, each to the node that now
// owns it), committed only once durable in its new spools, and the emptied queue is removed.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { isSpillwayError } from '../errors.js';
import { encodeWriteRequest, type SeriesInput } from '../protocol/prw/encode.js';
import { snappyCompress } from '../protocol/snappy.js';
import { decodeMetricRows } from '../protocol/vmstorage/metric-row.js';
import { FileNodeSpool } from '../spool/node-spool.js';
import type { OrphanedQueue } from '../spool/spool-set.js';
import { RecordKind, type SpoolOptions, type SpoolRecord } from '../spool/types.js';
import type { WriteHandler } from './write-handler.js';

export interface RehomeReport {
  queue: string;
  node: string | null;
  records: number;
  samples: number;
  /** Records that could not be re-ingested (undecodable); kept in the queue directory. */
  failedRecords: number;
  removed: boolean;
}

const PROGRESS_EVERY_MS = 5_000;

export async function rehomeOrphans(
  orphans: readonly OrphanedQueue[],
  spoolOpts: SpoolOptions,
  writeHandler: WriteHandler,
  log: Logger,
  signal: AbortSignal,
): Promise<RehomeReport[]> {
  const reports: RehomeReport[] = [];
  for (const orphan of orphans) {
    if (signal.aborted) break;
    reports.push(await rehomeQueue(orphan, spoolOpts, writeHandler, log, signal));
  }
  return reports;
}

async function rehomeQueue(orphan: OrphanedQueue, spoolOpts: SpoolOptions, writeHandler: WriteHandler, log: Logger, signal: AbortSignal): Promise<RehomeReport> {
  const node = orphan.node ?? path.basename(orphan.dir);
  // No caps: this queue only shrinks.
  const spool = await FileNodeSpool.open(orphan.dir, node, { ...spoolOpts, maxDiskUsagePerNode: 0, maxAgeMs: 0 });
  const report: RehomeReport = { queue: orphan.dir, node: orphan.node, records: 0, samples: 0, failedRecords: 0, removed: false };
  const total = spool.stats().pendingRecords;
  log.info({ queue: orphan.dir, node: orphan.node, records: total }, 'node no longer configured: re-routing its queue through the current ring');
  let lastProgress = Date.now();
  try {
    let offset = spool.readOffset;
    while (!signal.aborted && offset < spool.writeOffset) {
      const rec = await spool.read(offset);
      if (rec === null) break;
      if (await reingest(rec, writeHandler, log, signal)) {
        report.records++;
        report.samples += rec.samples;
      } else if (!signal.aborted) {
        report.failedRecords++;
      }
      if (signal.aborted) break;
      await spool.commit(rec.nextOffset);
      offset = rec.nextOffset;
      if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        log.info({ queue: orphan.dir, done: report.records, of: total }, 're-routing a removed node queue');
      }
    }
    await spool.flushCheckpoint();
  } finally {
    await spool.close();
  }
  if (!signal.aborted && report.failedRecords === 0) {
    await rm(orphan.dir, { recursive: true, force: true });
    report.removed = true;
    log.info({ ...report }, 'removed node queue re-routed and deleted');
  } else if (report.failedRecords > 0) {
    log.error({ ...report }, 'some records of a removed node could not be re-routed; its queue directory is kept for inspection');
  }
  return report;
}

/** True when durable on the new nodes; false when the record cannot be decoded (or stopping). */
async function reingest(rec: SpoolRecord, writeHandler: WriteHandler, log: Logger, signal: AbortSignal): Promise<boolean> {
  let body: Buffer;
  try {
    body = rec.kind === RecordKind.VmstorageRows ? rowsToWriteRequest(rec.data) : rec.data;
  } catch (err) {
    log.error({ err, offset: rec.offset }, 'cannot decode a record of a removed node queue');
    return false;
  }
  const tenant = { accountID: rec.accountID, projectID: rec.projectID };
  for (let attempt = 0; !signal.aborted; attempt++) {
    try {
      await writeHandler.writePrw(tenant, body, { reingest: true });
      return true;
    } catch (err) {
      if (!isSpillwayError(err) || !err.retryable) {
        log.error({ err, offset: rec.offset }, 'a record of a removed node queue was refused');
        return false;
      }
      // A full or failing spool: wait for room, never drop.
      await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))));
    }
  }
  return false;
}

/** MetricRows back into a snappy remote-write body (rare path: a removed vmstorage node). */
function rowsToWriteRequest(rows: Buffer): Buffer {
  const series: SeriesInput[] = [];
  for (const row of decodeMetricRows(rows)) {
    series.push({
      labels: row.labels.map((l) => [l.name.length === 0 ? '__name__' : l.name, l.value] as const),
      samples: [[row.valueBits, row.timestamp]],
    });
  }
  return snappyCompress(encodeWriteRequest(series));
}
