import t from 'tap';
import * as fs from 'node:fs';
import { FRAME_HEADER } from '../../src/spool/record.js';
import { openNode, readAll, rec, seqOf } from './helpers.js';

const segFiles = (dir: string) => fs.readdirSync(dir).filter((n) => /^[0-9a-f]{16}$/.test(n)).sort();
const F = FRAME_HEADER + 100; // frame size of rec(i, 100)

t.test('reject: over maxDiskUsagePerNode throws SPW_ERR_SPOOL_FULL and appends nothing', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { maxDiskUsagePerNode: 10 * F });
  for (let i = 0; i < 10; i++) {
    s.checkCapacity(100);
    await s.append(rec(i));
  }
  const before = s.stats();
  const err = (() => {
    try {
      s.checkCapacity(100);
    } catch (e) {
      return e as { code: string; status: number; retryAfter?: number; retryable: boolean };
    }
    return null;
  })();
  t.match(err, { code: 'SPW_ERR_SPOOL_FULL', status: 503, retryable: true });
  t.ok(err!.retryAfter! >= 1 && err!.retryAfter! <= 60, `Retry-After ${err!.retryAfter}`);
  t.same(s.stats().pendingBytes, before.pendingBytes, 'nothing appended');
  t.equal(s.writeOffset, 10 * F);
  // Delivering frees room.
  const all = await readAll(s);
  await s.commit(all[0]!.nextOffset);
  t.doesNotThrow(() => s.checkCapacity(100));
  t.equal(s.stats().droppedRecords, 0);
  await s.close();
});

t.test('reject: queued (not yet written) appends count too', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { maxDiskUsagePerNode: 3 * F });
  const ps = [];
  for (let i = 0; i < 3; i++) {
    s.checkCapacity(100);
    ps.push(s.append(rec(i)));
  }
  t.throws(() => s.checkCapacity(100), { code: 'SPW_ERR_SPOOL_FULL' });
  await Promise.all(ps);
  await s.close();
});

t.test('reject: oldest pending record over maxAge', async (t) => {
  const dir = t.testdir();
  let now = 1_000_000;
  const s = await openNode(dir, { maxAgeMs: 60_000, now: () => now });
  await s.append(rec(0));
  now += 30_000;
  await s.append(rec(1));
  t.doesNotThrow(() => s.checkCapacity(100));
  now += 31_000;
  t.throws(() => s.checkCapacity(100), { code: 'SPW_ERR_SPOOL_FULL', message: /maxAge/ });
  const [r0] = await readAll(s);
  await s.commit(r0!.nextOffset);
  t.equal(s.stats().oldestAppendedAt, 1_030_000);
  t.doesNotThrow(() => s.checkCapacity(100), 'the new oldest is young enough');
  await s.close();
});

t.test('drop-oldest: whole segments go first, counted; the reader notices via readOffset', async (t) => {
  const dir = t.testdir();
  // 4 records of 149 bytes per 600-byte segment.
  const s = await openNode(dir, { segmentSize: 600, maxDiskUsagePerNode: 20 * F, onFull: 'drop-oldest' });
  for (let i = 0; i < 20; i++) {
    s.checkCapacity(100);
    await s.append(rec(i));
  }
  const cursor = s.readOffset; // a sender that has not moved yet
  const segsBefore = segFiles(dir).length;
  s.checkCapacity(100); // no throw: makes room instead
  const st = s.stats();
  t.equal(st.droppedRecords, 4, 'one whole segment dropped');
  t.equal(st.droppedSamples, [0, 1, 2, 3].reduce((a, i) => a + rec(i).samples, 0));
  t.equal(st.pendingRecords, 16);
  t.ok(s.readOffset > cursor, 'readOffset moved past the cursor');
  const r = await s.read(cursor);
  t.equal(r!.offset, s.readOffset, 'an overtaken offset reads the record at readOffset');
  t.equal(seqOf(r!), 4);
  await s.append(rec(20));
  await s.flushCheckpoint();
  t.equal(segFiles(dir).length, segsBefore, 'the dropped segment was deleted (and one added)');
  // Everything dropped: an overtaken cursor waits for new data instead of spinning.
  s.checkCapacity(25 * F);
  t.equal(s.readOffset, s.writeOffset);
  let woke = false;
  const w = s.waitForData(cursor).then(() => (woke = true));
  await new Promise((res) => setTimeout(res, 20));
  t.equal(woke, false, 'waitForData on an overtaken cursor waits for new records');
  t.equal(await s.read(cursor), null);
  await s.append(rec(21));
  await w;
  t.equal(seqOf((await s.read(cursor))!), 21);
  // A late commit from the overtaken sender is ignored.
  const ro = s.readOffset;
  await s.commit(cursor + F);
  t.equal(s.readOffset, ro);
  t.same((await readAll(s)).map(seqOf), [21]);
  await s.close();
});

t.test('drop-oldest: inside the writer segment, record by record', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { segmentSize: 1 << 20, maxDiskUsagePerNode: 5 * F, onFull: 'drop-oldest' });
  for (let i = 0; i < 5; i++) await s.append(rec(i));
  s.checkCapacity(2 * 100 + FRAME_HEADER + 1); // one byte more than two frames: three must go
  t.equal(s.stats().droppedRecords, 3);
  t.same((await readAll(s)).map(seqOf), [3, 4]);
  await s.close();
});

t.test('drop-oldest with maxAge drops only the too-old records', async (t) => {
  const dir = t.testdir();
  let now = 5_000_000;
  const s = await openNode(dir, { segmentSize: 600, maxAgeMs: 10_000, onFull: 'drop-oldest', now: () => now });
  for (let i = 0; i < 10; i++) {
    await s.append(rec(i));
    now += 1000;
  }
  // now = start + 10 s; records 0.. appended at +0..+9 s. Cutoff = now - 10 s + 3 s.
  now += 3000;
  s.checkCapacity(100);
  t.equal(s.stats().droppedRecords, 3);
  t.equal(s.stats().oldestAppendedAt, 5_003_000);
  t.same((await readAll(s)).map(seqOf), [3, 4, 5, 6, 7, 8, 9]);
  await s.close();
});
