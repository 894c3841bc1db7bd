// The reader checkpoint: one small file per node queue holding the offset the sender resumes
// from. Replaced by write-tmp, fsync, rename, fsync-dir, so after any crash the file is either
// the old or the new offset, never a mix. At-least-once: a crash re-sends at most the records
// delivered after the last durable checkpoint.

import * as fs from 'node:fs';
import { errCode, writeFileAtomic } from './io.js';

export const CHECKPOINT_FILE = 'checkpoint';

export type CheckpointRead = { offset: number } | { offset: null; problem: string | null };

export function readCheckpointSync(dir: string): CheckpointRead {
  let text: string;
  try {
    text = fs.readFileSync(`${dir}/${CHECKPOINT_FILE}`, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { offset: null, problem: null };
    return { offset: null, problem: `cannot read ${CHECKPOINT_FILE}: ${String(err)}` };
  }
  try {
    const v = (JSON.parse(text) as { readOffset?: unknown }).readOffset;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return { offset: v };
  } catch {
    // fall through: reported below
  }
  return { offset: null, problem: `${CHECKPOINT_FILE} holds no valid readOffset: ${JSON.stringify(text.slice(0, 80))}` };
}

export function checkpointText(offset: number): string {
  return `{"readOffset":${offset}}\n`;
}

export function writeCheckpoint(dir: string, offset: number): Promise<void> {
  return writeFileAtomic(dir, CHECKPOINT_FILE, checkpointText(offset));
}
