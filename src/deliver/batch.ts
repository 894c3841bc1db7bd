// Records already waiting in a node's spool behind the one about to be sent can go in the
// same request: a node fed by many small client requests then gets one round trip per batch
// instead of one per request, and a backlog replays at the node's speed, not the latency's.

import type { NodeSpool, SpoolRecord } from '../spool/types.js';

/**
 * `first` and the records directly behind it in the spool that `fits` accepts (it sees the
 * candidate and the batch so far), stopping at the write end, at the first refusal or at
 * `maxRecords`. Never skips a record, so the batch is a contiguous range of the queue.
 */
export async function gatherWaiting(
  spool: NodeSpool,
  first: SpoolRecord,
  fits: (candidate: SpoolRecord, batch: readonly SpoolRecord[]) => boolean,
  maxRecords = Infinity,
): Promise<SpoolRecord[]> {
  const parts: SpoolRecord[] = [first];
  let next = first.nextOffset;
  while (parts.length < maxRecords && next < spool.writeOffset) {
    const r = await spool.read(next);
    if (r === null || !fits(r, parts)) break;
    parts.push(r);
    next = r.nextOffset;
  }
  return parts;
}

/** One record standing for `parts` (in order) with `data` as its payload. */
export function mergeRecords(parts: readonly SpoolRecord[], data: Buffer): SpoolRecord {
  let samples = 0;
  let series = 0;
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const p of parts) {
    samples += p.samples;
    series += p.series;
    if (p.minTs < minTs) minTs = p.minTs;
    if (p.maxTs > maxTs) maxTs = p.maxTs;
  }
  return { ...parts[0]!, data, samples, series, minTs, maxTs, nextOffset: parts[parts.length - 1]!.nextOffset };
}
