// Spillway as the chaos suites run it: a child process on loopback, plus status polling,
// metrics and the files it keeps per node.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { nodeDirName } from '../../../src/spool/spool-set.js';
import { httpRequest } from '../../integration/helpers/procs.js';
import { startSpillway, type Spillway, type SpillwayOptions } from '../../integration/helpers/spillway.js';
import { parseMetrics } from './http.js';
import { sleep } from './common.js';

export { startSpillway, type Spillway };

export async function launch(args: string[], opts: SpillwayOptions): Promise<Spillway> {
  return startSpillway(args, { readyTimeoutMs: 30_000, ...opts });
}

export interface NodeStatus {
  node: string;
  state: string;
  pendingRecords: number;
  pendingSamples: number;
  rejectedRecords: number;
  failuresByReason: Record<string, number>;
}

export async function status(url: string): Promise<{ nodes: NodeStatus[] }> {
  const res = await httpRequest(`${url}/api/v1/status`, { timeoutMs: 5_000 });
  if (res.status !== 200) throw new Error(`status answered ${res.status}`);
  return JSON.parse(res.body.toString('utf8')) as { nodes: NodeStatus[] };
}

export async function metrics(url: string): Promise<Map<string, number>> {
  const res = await httpRequest(`${url}/metrics`, { timeoutMs: 5_000 });
  return parseMetrics(res.body.toString('utf8'));
}

/** Waits until every node's queue is empty; false on timeout. */
export async function drained(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const s = await status(url);
      if (s.nodes.every((n) => n.pendingRecords === 0)) return true;
    } catch {
      // restarting or busy: ask again
    }
    await sleep(100);
  }
  return false;
}

export function nodeDir(spoolPath: string, nodeId: string): string {
  return path.join(spoolPath, nodeDirName(nodeId));
}

export interface DeadLetter {
  status: number;
  samples: number;
  bytes: number;
  body: Buffer;
}

/** The records a node set aside: a JSON header line, the body bytes, a newline, per record. */
export function readDeadLetters(spoolPath: string, nodeId: string): DeadLetter[] {
  const file = path.join(nodeDir(spoolPath, nodeId), 'dead-letter.bin');
  if (!existsSync(file)) return [];
  const buf = readFileSync(file);
  const out: DeadLetter[] = [];
  let p = 0;
  while (p < buf.length) {
    const nl = buf.indexOf(0x0a, p);
    if (nl < 0) throw new Error(`${file}: header without newline at ${p}`);
    const h = JSON.parse(buf.toString('utf8', p, nl)) as { status: number; samples: number; bytes: number };
    const body = buf.subarray(nl + 1, nl + 1 + h.bytes);
    out.push({ ...h, body });
    p = nl + 1 + h.bytes + 1;
  }
  return out;
}

/** Repairs recovery reported over every incarnation's log. */
export function recoveryRepairs(output: string): number {
  return (output.match(/spool recovered with repairs/g) ?? []).length;
}
