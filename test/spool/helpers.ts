// Shared bits for the spool tests: options, deterministic records, reading a queue to its end.
import { FileNodeSpool } from '../../src/spool/node-spool.js';
import type { NodeSpoolOptions } from '../../src/spool/node-spool.js';
import type { AppendInput, SpoolRecord } from '../../src/spool/types.js';

export function spoolOpts(path: string, over: Partial<NodeSpoolOptions> = {}): NodeSpoolOptions {
  return {
    path,
    segmentSize: 64 * 1024,
    fsync: 'always',
    maxDiskUsagePerNode: 0,
    maxAgeMs: 0,
    onFull: 'reject',
    memoryCacheBytes: 1 << 20,
    checkpointIntervalMs: 0,
    ...over,
  };
}

/** Record `seq` with `size` bytes of data derived from seq, so content can be checked after reopen. */
export function rec(seq: number, size = 100): AppendInput {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (seq * 31 + i * 7) & 0xff;
  if (size >= 4) data.writeUInt32LE(seq, 0);
  return { kind: 1, accountID: seq % 7, projectID: 3, series: 2, samples: 10 + (seq % 5), minTs: 1_700_000_000_000 + seq, maxTs: 1_700_000_000_500 + seq, data };
}

export function seqOf(r: SpoolRecord): number {
  return r.data.readUInt32LE(0);
}

export function intact(r: SpoolRecord): boolean {
  const want = rec(seqOf(r), r.data.length);
  return want.data.equals(r.data) && want.samples === r.samples && want.minTs === r.minTs && want.accountID === r.accountID;
}

/** Reads from readOffset to the write end; returns the records (and commits nothing). */
export async function readAll(s: FileNodeSpool, from = s.readOffset): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  for (let cur = from; ; ) {
    const r = await s.read(cur);
    if (r === null) return out;
    out.push(r);
    cur = r.nextOffset;
  }
}

export function openNode(dir: string, over: Partial<NodeSpoolOptions> = {}, nodeId = 'node-a'): Promise<FileNodeSpool> {
  return FileNodeSpool.open(dir, nodeId, spoolOpts(dir, over));
}
