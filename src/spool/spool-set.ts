// All node queues under -spool.path: the path lock, one directory per node, orphan listing.
//
//   <path>/lock                      exclusive owner (lock.ts)
//   <path>/<16 hex of sha256(node)>/ one queue per node identity string
//       node.json                    { "node": "<identity>" } for the operator
//       checkpoint                   { "readOffset": N }
//       0000000000000000 ...         segments named by start offset
//       corrupt/                     damaged data set aside by recovery, never deleted

import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { acquireLockSync } from './lock.js';
import type { SpoolLock } from './lock.js';
import { FileNodeSpool, NODE_FILE } from './node-spool.js';
import type { NodeSpoolOptions, RecoveryReport, SpoolLog } from './node-spool.js';
import type { SpoolOptions } from './types.js';
import { redact } from '../config/redact.js';

/** The directory name of a node's queue: stable for the identity string exactly as configured. */
export function nodeDirName(nodeId: string): string {
  return createHash('sha256').update(nodeId).digest('hex').slice(0, 16);
}

export interface OrphanedQueue {
  dir: string;
  /** From its node.json; null when that is missing or unreadable. */
  node: string | null;
}

export interface SpoolSetReport {
  path: string;
  /** Why an earlier lock was taken over (its owner had died), or null. */
  lockTakenOver: string | null;
  nodes: RecoveryReport[];
  /** Queues of nodes no longer configured: left untouched, to be re-routed. */
  orphaned: OrphanedQueue[];
}

export interface SpoolSet {
  spools: Map<string, FileNodeSpool>;
  reports: SpoolSetReport;
  lock: SpoolLock;
}

const locks = new WeakMap<Map<string, FileNodeSpool>, SpoolLock>();

/**
 * Locks opts.path, then opens and recovers the queue of every node in `nodeIds`. On failure
 * everything opened so far is closed and the lock released.
 */
export async function openSpools(opts: SpoolOptions & Partial<NodeSpoolOptions>, nodeIds: string[], log?: SpoolLog): Promise<SpoolSet> {
  const lock = acquireLockSync(opts.path);
  if (lock.tookOver) log?.warn({ path: opts.path, reason: lock.tookOver }, 'took over a stale spool lock');
  const spools = new Map<string, FileNodeSpool>();
  const reports: SpoolSetReport = { path: opts.path, lockTakenOver: lock.tookOver, nodes: [], orphaned: [] };
  try {
    const wanted = new Set<string>();
    for (const id of nodeIds) {
      if (spools.has(id)) continue;
      const name = nodeDirName(id);
      wanted.add(name);
      // A large backlog takes a while to verify: say which queue is being read.
      log?.info({ node: redact(id), dir: `${opts.path}/${name}`, segments: countSegments(`${opts.path}/${name}`) }, 'recovering spool');
      const spool = await FileNodeSpool.open(`${opts.path}/${name}`, id, { ...opts, log: opts.log ?? log });
      spools.set(id, spool);
      reports.nodes.push(spool.recovery);
    }
    for (const ent of fs.readdirSync(opts.path, { withFileTypes: true })) {
      // Only queue directories (16 hex digits); other folders (dead letters, ...) are not ours to report.
      if (!ent.isDirectory() || wanted.has(ent.name) || !/^[0-9a-f]{16}$/.test(ent.name)) continue;
      const dir = `${opts.path}/${ent.name}`;
      let node: string | null = null;
      try {
        const v = (JSON.parse(fs.readFileSync(`${dir}/${NODE_FILE}`, 'utf8')) as { node?: unknown }).node;
        if (typeof v === 'string') node = v;
      } catch {
        // not readable: listed with node null
      }
      reports.orphaned.push({ dir, node });
    }
    if (reports.orphaned.length > 0) log?.warn({ orphaned: reports.orphaned }, 'spool holds queues of nodes no longer configured; left untouched');
  } catch (err) {
    await Promise.allSettled([...spools.values()].map((s) => s.close()));
    lock.release();
    throw err;
  }
  locks.set(spools, lock);
  return { spools, reports, lock };
}

/** Closes every queue (finishing queued appends, writing checkpoints) and releases the lock. */
export async function closeSpools(set: SpoolSet | Map<string, FileNodeSpool>): Promise<void> {
  const spools = set instanceof Map ? set : set.spools;
  const results = await Promise.allSettled([...spools.values()].map((s) => s.close()));
  locks.get(spools)?.release();
  locks.delete(spools);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function countSegments(dir: string): number {
  try {
    return fs.readdirSync(dir).filter((f) => /^[0-9a-f]{16}$/.test(f)).length;
  } catch {
    return 0;
  }
}
