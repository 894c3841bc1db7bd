// The exclusive lock on -spool.path: two processes appending to the same queues would
// interleave frames and corrupt them, so a second Spillway must refuse to start.
//
// The lock is a file `lock` holding JSON { pid, hostname, startedAt, nonce, bootId?, procStart? }.
// It is created by writing and fsyncing a private temp file and then link()ing it to `lock`:
// link fails with EEXIST when the lock exists, and when it succeeds the lock appears with its
// whole content at once, so nobody ever sees an empty or half-written lock.
//
// A lock whose owner is gone is taken over:
// - same host and kill(pid, 0) says ESRCH → the owner died (kill -9, crash);
// - same host, pid alive, but /proc/<pid>/stat start time differs from the recorded one → the
//   pid was reused by an unrelated process;
// - the recorded boot id differs from ours → the machine rebooted since;
// - the pid is our own → a leftover of an earlier incarnation with the same pid (containers
//   restart as pid 1); this process does not hold it (checked in `heldHere`).
// A lock from another hostname is never taken over: its owner cannot be checked from here.
//
// Race: two processes judging the same stale lock at once. Taking over is rename(lock → a
// name private to us), then compare what we moved with what we judged. Same bytes → we removed
// the stale lock; unlink it and link ours (which again fails if the other process linked first,
// and then its lock is judged alive). Different bytes → the other process had already replaced
// the stale lock with its fresh one and we moved that: link it back and refuse. There is no
// window in which two processes both believe they hold the lock.

import * as fs from 'node:fs';
import * as os from 'node:os';
import { randomBytes } from 'node:crypto';
import { SpillwayError } from '../errors.js';
import { errCode, syncDirSync } from './io.js';

export const LOCK_FILE = 'lock';

export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  nonce: string;
  bootId?: string;
  procStart?: string;
}

export interface SpoolLock {
  readonly path: string;
  readonly info: LockInfo;
  /** What happened to an earlier lock file, if there was one (for the startup log). */
  readonly tookOver: string | null;
  release(): void;
}

const heldHere = new Set<string>();

function readProc(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: the process start time in clock ticks after boot. */
function procStartOf(pid: number | 'self'): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function describe(info: LockInfo): string {
  return `pid ${info.pid} on ${info.hostname} since ${info.startedAt}`;
}

/** Why the lock described by `info` is stale, or null when its owner may be alive. */
function staleReason(info: LockInfo): string | null {
  if (info.hostname !== os.hostname()) return null;
  const bootId = readProc('/proc/sys/kernel/random/boot_id');
  if (info.bootId && bootId && info.bootId !== bootId) return `left by ${describe(info)} before the last reboot`;
  if (info.pid === process.pid) return `left by an earlier process with our pid ${info.pid}`;
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if (errCode(err) === 'ESRCH') return `left by ${describe(info)}, which is no longer running`;
    return null; // EPERM: alive, owned by another user
  }
  const start = info.procStart ? procStartOf(info.pid) : undefined;
  if (start !== undefined && start !== info.procStart) return `left by ${describe(info)}; that pid now belongs to another process`;
  return null;
}

function parse(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.hostname === 'string') {
      return { startedAt: '?', nonce: '', ...v } as LockInfo;
    }
  } catch {
    // not ours
  }
  return null;
}

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Takes the exclusive lock on `dir` (created if missing). Sync: it runs once at startup. */
export function acquireLockSync(dir: string): SpoolLock {
  fs.mkdirSync(dir, { recursive: true });
  const path = `${fs.realpathSync(dir)}/${LOCK_FILE}`;
  if (heldHere.has(path)) throw new SpillwayError('SPW_ERR_SPOOL_LOCKED', `${path} is already held by this process`);

  const info: LockInfo = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), nonce: randomBytes(8).toString('hex') };
  const bootId = readProc('/proc/sys/kernel/random/boot_id');
  const procStart = procStartOf('self');
  if (bootId) info.bootId = bootId;
  if (procStart) info.procStart = procStart;
  const text = `${JSON.stringify(info)}\n`;
  const tmp = `${path}.${info.nonce}.tmp`;
  const aside = `${path}.${info.nonce}.stale`;

  let tookOver: string | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, path);
      fs.unlinkSync(tmp);
      syncDirSync(dir);
      heldHere.add(path);
      const lock: SpoolLock = {
        path,
        info,
        tookOver,
        release() {
          if (!heldHere.delete(path)) return;
          // Unlink only our own lock: never one that replaced it.
          if (readText(path) === text) {
            fs.unlinkSync(path);
            syncDirSync(dir);
          }
        },
      };
      return lock;
    } catch (err) {
      fs.unlinkSync(tmp);
      if (errCode(err) !== 'EEXIST') throw err;
    }

    const seen = readText(path);
    if (seen === null) continue; // released meanwhile: try again
    const owner = parse(seen);
    if (!owner) {
      throw new SpillwayError('SPW_ERR_SPOOL_LOCKED', `${path} exists but is not a Spillway lock (${JSON.stringify(seen.slice(0, 80))}); remove it if no Spillway uses this path`);
    }
    const reason = staleReason(owner);
    if (reason === null) throw new SpillwayError('SPW_ERR_SPOOL_LOCKED', `${path} is held by ${describe(owner)}`);

    try {
      fs.renameSync(path, aside);
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue; // someone else removed it first: race for the link
      throw err;
    }
    const moved = readText(aside);
    if (moved !== seen) {
      // We moved a lock that replaced the stale one meanwhile: give it back and stand down.
      try {
        fs.linkSync(aside, path);
      } catch {
        // a third process linked already; its lock stands
      }
      fs.unlinkSync(aside);
      throw new SpillwayError('SPW_ERR_SPOOL_LOCKED', `${path} changed while taking over a stale lock: another process is starting on the same path`);
    }
    fs.unlinkSync(aside);
    tookOver = reason;
  }
  throw new SpillwayError('SPW_ERR_SPOOL_LOCKED', `${path}: could not take the lock after repeated attempts; another process keeps racing for it`);
}
