// The file-system seam of the spool's hot path, plus the small sync helpers recovery uses.
//
// Only the two calls that can fail under a full or failing disk on the hot path go through
// SpoolIo, so tests can inject ENOSPC/EIO (and count syncs) without a real broken disk.

import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

export interface SpoolIo {
  /** Writes all of `bufs` at `position`; resolves with the bytes written (may be short on error paths). */
  writev(fh: FileHandle, bufs: Buffer[], position: number): Promise<number>;
  /** Makes the file's data durable. fdatasync: appends change the size, which it flushes too. */
  sync(fh: FileHandle): Promise<void>;
}

export const defaultIo: SpoolIo = {
  async writev(fh, bufs, position) {
    return (await fh.writev(bufs, position)).bytesWritten;
  },
  sync(fh) {
    return fh.datasync();
  },
};

/**
 * writev until every byte is down. libuv already loops over short writes, but on an error after
 * some progress it reports the progress and drops the error; asking again for the remainder
 * surfaces the real errno (ENOSPC, EIO).
 */
export async function writeAll(io: SpoolIo, fh: FileHandle, bufs: Buffer[], position: number, total: number): Promise<void> {
  let done = await io.writev(fh, bufs, position);
  while (done < total) {
    const rest = sliceBuffers(bufs, done);
    const n = await io.writev(fh, rest, position + done);
    if (n <= 0) throw Object.assign(new Error(`short write at ${position + done}`), { code: 'EIO' });
    done += n;
  }
}

function sliceBuffers(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

/** fsync a directory so creates, renames and unlinks in it survive a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function syncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a small file atomically and durably: tmp, fsync, rename, fsync the directory. */
export function writeFileAtomicSync(dir: string, name: string, content: string): void {
  const tmp = `${dir}/${name}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, `${dir}/${name}`);
  syncDirSync(dir);
}

export async function writeFileAtomic(dir: string, name: string, content: string): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
}

/** Copies bytes [from, to) of an open file into a new file, in chunks, then fsyncs the copy. */
export function copyRangeSync(srcFd: number, from: number, to: number, destPath: string, chunk: Buffer): void {
  const out = fs.openSync(destPath, 'wx');
  try {
    let pos = from;
    while (pos < to) {
      const n = fs.readSync(srcFd, chunk, 0, Math.min(chunk.length, to - pos), pos);
      if (n <= 0) break;
      fs.writeSync(out, chunk, 0, n);
      pos += n;
    }
    fs.fsyncSync(out);
  } finally {
    fs.closeSync(out);
  }
}

/** A file-name-safe UTC timestamp, sortable: 20250102T030405.678Z */
export function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '');
}

export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
