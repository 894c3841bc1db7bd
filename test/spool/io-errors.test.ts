import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { SpoolIo } from '../../src/spool/io.js';
import { defaultIo } from '../../src/spool/io.js';
import { openNode, readAll, rec, seqOf } from './helpers.js';

const segFiles = (dir: string) => fs.readdirSync(dir).filter((n) => /^[0-9a-f]{16}$/.test(n)).sort();
const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });

/** An io layer whose next write(s) land partly and then fail with ENOSPC, like a disk filling up. */
function flakyIo() {
  const state = { failWrites: 0, failSyncs: 0, syncs: 0 };
  const io: SpoolIo = {
    async writev(fh, bufs, position) {
      if (state.failWrites > 0) {
        state.failWrites--;
        // Half of the first buffer gets down, as when the disk fills mid-write.
        const half = bufs[0]!.subarray(0, Math.max(1, bufs[0]!.length >> 1));
        await defaultIo.writev(fh, [half], position);
        throw enospc();
      }
      return defaultIo.writev(fh, bufs, position);
    },
    async sync(fh) {
      state.syncs++;
      if (state.failSyncs > 0) {
        state.failSyncs--;
        throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
      }
      return defaultIo.sync(fh);
    },
  };
  return { io, state };
}

t.test('ENOSPC: the batch is rejected with SPW_ERR_SPOOL_IO, the file cut back, later appends work', async (t) => {
  const dir = t.testdir();
  const { io, state } = flakyIo();
  const s = await openNode(dir, { io });
  for (let i = 0; i < 5; i++) await s.append(rec(i));
  const path = `${dir}/${segFiles(dir)[0]}`;
  const good = fs.statSync(path).size;
  const end = s.writeOffset;

  state.failWrites = 1;
  const failing = [s.append(rec(5)), s.append(rec(6)), s.append(rec(7))];
  for (const p of failing) await t.rejects(p, { code: 'SPW_ERR_SPOOL_IO', status: 503, retryable: true });
  t.equal(fs.statSync(path).size, good, 'partial write truncated away');
  t.equal(s.writeOffset, end);
  t.equal(s.stats().pendingRecords, 5);
  t.equal(s.stats().ioErrors, 1);
  t.equal(await s.read(end), null, 'nothing of the failed batch is readable');

  // Space is back.
  t.equal(await s.appendAt(rec(8)), end, 'the next append takes the same offset');
  t.same((await readAll(s)).map(seqOf), [0, 1, 2, 3, 4, 8]);
  await s.close();
  const s2 = await openNode(dir);
  t.same((await readAll(s2)).map(seqOf), [0, 1, 2, 3, 4, 8]);
  t.equal(s2.recovery.truncatedBytes, 0, 'nothing left to repair');
  await s2.close();
});

t.test('fsync EIO: rejected and rolled back (nothing unsynced is acknowledged)', async (t) => {
  const dir = t.testdir();
  const { io, state } = flakyIo();
  const s = await openNode(dir, { io });
  await s.append(rec(0));
  state.failSyncs = 1;
  await t.rejects(s.append(rec(1)), { code: 'SPW_ERR_SPOOL_IO' });
  await s.append(rec(2));
  t.same((await readAll(s)).map(seqOf), [0, 2]);
  await s.close();
});

t.test('failure while rotating: the new segment file is removed again', async (t) => {
  const dir = t.testdir();
  const { io, state } = flakyIo();
  const s = await openNode(dir, { io, segmentSize: 500 });
  for (let i = 0; i < 3; i++) await s.append(rec(i)); // 3 × 149 bytes: the next one rotates
  const files = segFiles(dir);
  t.equal(files.length, 1);
  state.failWrites = 1;
  await t.rejects(s.append(rec(3)), { code: 'SPW_ERR_SPOOL_IO' });
  t.same(segFiles(dir), files, 'no half-made segment left');
  await s.append(rec(4));
  t.equal(segFiles(dir).length, 2);
  t.same((await readAll(s)).map(seqOf), [0, 1, 2, 4]);
  await s.close();
  const s2 = await openNode(dir, { segmentSize: 500 });
  t.same((await readAll(s2)).map(seqOf), [0, 1, 2, 4]);
  await s2.close();
});

t.test('real ENOSPC on a tiny tmpfs, when one can be mounted', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const mnt = fs.mkdtempSync(`${os.tmpdir()}/spool-enospc-`);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
  if (m.status !== 0) {
    fs.rmdirSync(mnt);
    t.comment('skipped: cannot mount a tmpfs here (not root)');
    return;
  }
  t.teardown(() => {
    spawnSync('umount', ['-l', mnt]);
    fs.rmdirSync(mnt);
  });
  const dir = `${mnt}/q`;
  const s = await openNode(dir, { segmentSize: 60_000 }); // 2 records of 20 KB per segment
  let ok = 0;
  let err: unknown = null;
  for (let i = 0; i < 100 && err === null; i++) {
    try {
      await s.append(rec(i, 20_000));
      ok++;
    } catch (e) {
      err = e;
    }
  }
  t.match(err, { code: 'SPW_ERR_SPOOL_IO', message: /ENOSPC/ }, `disk full after ${ok} records`);
  const got = await readAll(s);
  t.same(got.map(seqOf), [...Array(ok).keys()], 'every acknowledged record is there');
  // Deliver: consumed segments are deleted, space comes back, appends work again.
  for (const r of got) await s.commit(r.nextOffset);
  await s.flushCheckpoint();
  await s.append(rec(1000, 20_000));
  await s.append(rec(1001, 20_000));
  t.same((await readAll(s)).map(seqOf), [1000, 1001]);
  await s.close();
  const s2 = await openNode(dir, { segmentSize: 60_000 });
  t.same((await readAll(s2)).map(seqOf), [1000, 1001]);
  t.equal(s2.recovery.truncatedBytes, 0);
  await s2.close();
});
