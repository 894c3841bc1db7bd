import t from 'tap';
import * as fs from 'node:fs';
import { FileNodeSpool } from '../../src/spool/node-spool.js';
import { FRAME_HEADER } from '../../src/spool/record.js';
import type { SpoolIo } from '../../src/spool/io.js';
import { defaultIo } from '../../src/spool/io.js';
import { intact, openNode, readAll, rec, seqOf } from './helpers.js';

const segFiles = (dir: string) => fs.readdirSync(dir).filter((n) => /^[0-9a-f]{16}$/.test(n)).sort();

t.test('append/read round trip keeps every field and the order', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir);
  t.equal(s.writeOffset, 0);
  t.equal(await s.read(0), null, 'empty queue reads null');
  const offs: number[] = [];
  for (let i = 0; i < 20; i++) offs.push(await s.appendAt(rec(i, 10 + i * 13)));
  t.same(offs[0], 0);
  t.equal(offs[1], FRAME_HEADER + 10, 'offsets are byte offsets');
  const got = await readAll(s);
  t.equal(got.length, 20);
  t.same(got.map(seqOf), [...Array(20).keys()]);
  t.ok(got.every(intact), 'data and meta intact');
  const r0 = got[0]!;
  t.match(r0, { kind: 1, accountID: 0, projectID: 3, series: 2, samples: 10, minTs: 1_700_000_000_000, maxTs: 1_700_000_000_500, offset: 0 });
  t.equal(r0.nextOffset, got[1]!.offset);
  t.ok(r0.appendedAt > Date.now() - 10_000);
  t.equal(s.stats().readsFromCache, 20, 'a reader keeping up is served from memory');
  t.same(s.stats().pendingRecords, 20);
  t.equal(s.stats().pendingSamples, got.reduce((a, r) => a + r.samples, 0));
  await s.close();

  // Same content from disk after reopen.
  const s2 = await openNode(dir);
  const again = await readAll(s2);
  t.same(again.map((r) => [r.offset, seqOf(r), r.appendedAt]), got.map((r) => [r.offset, seqOf(r), r.appendedAt]));
  t.ok(again.every(intact));
  t.equal(s2.stats().readsFromDisk, 20);
  t.equal(s2.recovery.records, 20);
  await s2.close();
});

t.test('node.json names the node; another identity in the same dir is refused', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, {}, 'vmstorage-1:8400');
  await s.close();
  t.same(JSON.parse(fs.readFileSync(`${dir}/node.json`, 'utf8')), { node: 'vmstorage-1:8400' });
  await t.rejects(openNode(dir, {}, 'vmstorage-2:8400'), { code: 'SPW_ERR_SPOOL_CORRUPT' });
});

t.test('rotation: a record never spans segments; oversized records get their own', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { segmentSize: 1000 });
  const sizes = [300, 300, 300, 300, 2500, 10, 10, 900, 50];
  for (let i = 0; i < sizes.length; i++) await s.append(rec(i, sizes[i]));
  const files = segFiles(dir);
  const starts = files.map((f) => parseInt(f, 16));
  // Each file starts at a record boundary and its size matches what the next file's name says.
  for (let i = 0; i + 1 < files.length; i++) {
    t.equal(starts[i]! + fs.statSync(`${dir}/${files[i]}`).size, starts[i + 1], `${files[i]} ends where ${files[i + 1]} starts`);
  }
  const got = await readAll(s);
  t.same(got.map(seqOf), sizes.map((_, i) => i));
  const big = got[4]!;
  t.ok(starts.includes(big.offset), 'the 2500-byte record starts its own segment');
  t.ok(starts.includes(big.nextOffset), 'and the next record starts a new one');
  t.ok(fs.statSync(`${dir}/${files[starts.indexOf(big.offset)]}`).size > 1000);
  await s.close();

  // Reading across every boundary from disk, including at exact segment starts.
  const s2 = await openNode(dir, { segmentSize: 1000 });
  const back = await readAll(s2);
  t.same(back.map(seqOf), sizes.map((_, i) => i));
  const atBoundary = await s2.read(big.nextOffset);
  t.equal(atBoundary && seqOf(atBoundary), 5);
  await s2.close();
});

t.test('group commit: concurrent appends share fsyncs', async (t) => {
  const dir = t.testdir();
  let syncs = 0;
  const io: SpoolIo = {
    writev: defaultIo.writev,
    async sync(fh) {
      syncs++;
      await defaultIo.sync(fh);
    },
  };
  const s = await openNode(dir, { io, segmentSize: 1 << 20 });
  const n = 200;
  let done = 0;
  const ps: Promise<number>[] = [];
  for (let i = 0; i < n; i++) ps.push(s.appendAt(rec(i, 500)).then((o) => (done++, o)));
  const offs = await Promise.all(ps);
  t.equal(done, n);
  t.same([...offs].sort((a, b) => a - b), offs, 'offsets follow call order');
  const st = s.stats();
  t.equal(st.appends, n);
  t.equal(st.fsyncs, syncs);
  t.ok(syncs < n / 4, `${syncs} fsyncs for ${n} appends (${st.appendBatches} batches)`);
  t.same((await readAll(s)).map(seqOf), [...Array(n).keys()]);
  await s.close();
});

t.test('records are visible to the reader only once acknowledged', async (t) => {
  const dir = t.testdir();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const io: SpoolIo = {
    writev: defaultIo.writev,
    async sync(fh) {
      await gate;
      await defaultIo.sync(fh);
    },
  };
  const s = await openNode(dir, { io });
  const p = s.append(rec(1));
  let woke = false;
  const w = s.waitForData(0).then(() => (woke = true));
  await new Promise((r) => setTimeout(r, 30));
  t.equal(await s.read(0), null, 'written but not synced: not readable');
  t.equal(woke, false);
  release();
  await p;
  await w;
  t.equal(woke, true, 'waitForData resolves after the ack');
  t.equal(seqOf((await s.read(0))!), 1);
  await s.close();
});

t.test('checkpoint: resume after reopen, consumed segments deleted', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { segmentSize: 1000, checkpointIntervalMs: 50 });
  for (let i = 0; i < 30; i++) await s.append(rec(i, 200));
  t.ok(segFiles(dir).length >= 7, 'several segments');
  const all = await readAll(s);
  // Deliver the first 17.
  for (const r of all.slice(0, 17)) await s.commit(r.nextOffset);
  t.equal(s.readOffset, all[17]!.offset);
  t.equal(s.stats().pendingRecords, 13);
  t.equal(s.stats().pendingBytes, all.slice(17).reduce((a, r) => a + FRAME_HEADER + r.data.length, 0));
  t.equal(s.stats().oldestAppendedAt, all[17]!.appendedAt);
  // Stale or repeated commits are ignored; a non-boundary is an error.
  await s.commit(all[3]!.nextOffset);
  t.equal(s.readOffset, all[17]!.offset);
  await t.rejects(s.commit(all[20]!.offset + 1), RangeError);
  await t.rejects(s.commit(s.writeOffset + 10), RangeError);
  await t.rejects(s.read(all[20]!.offset + 1), RangeError);

  await s.flushCheckpoint();
  const starts = segFiles(dir).map((f) => parseInt(f, 16));
  t.ok(starts[0]! <= all[17]!.offset, 'the segment holding the checkpoint is kept');
  t.ok(starts.length > 0 && starts.every((st, i) => i === 0 || st > all[17]!.offset), 'segments wholly below it are gone');
  t.equal(JSON.parse(fs.readFileSync(`${dir}/checkpoint`, 'utf8')).readOffset, all[17]!.offset);
  const diskBefore = s.stats().diskBytes;
  t.equal(diskBefore, segFiles(dir).reduce((a, f) => a + fs.statSync(`${dir}/${f}`).size, 0), 'diskBytes matches the files');
  await s.close();

  const s2 = await openNode(dir, { segmentSize: 1000 });
  t.equal(s2.readOffset, all[17]!.offset);
  const rest = await readAll(s2);
  t.same(rest.map(seqOf), [...Array(13).keys()].map((i) => i + 17), 'resumes at the first undelivered record');
  t.equal(s2.stats().pendingRecords, 13);
  // Deliver everything, then keep appending: offsets keep growing across restarts.
  for (const r of rest) await s2.commit(r.nextOffset);
  await s2.flushCheckpoint();
  t.equal(s2.stats().pendingBytes, 0);
  t.equal(s2.stats().oldestAppendedAt, 0);
  t.ok(segFiles(dir).length <= 1, 'only the writer segment remains');
  const end = s2.writeOffset;
  await s2.close();
  const s3 = await openNode(dir, { segmentSize: 1000 });
  t.equal(s3.writeOffset, end);
  t.equal(await s3.appendAt(rec(99)), end);
  t.same((await readAll(s3)).map(seqOf), [99]);
  await s3.close();
});

t.test('commit resolves without waiting for the checkpoint file; it is debounced', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { checkpointIntervalMs: 60_000 });
  for (let i = 0; i < 5; i++) await s.append(rec(i));
  const all = await readAll(s);
  for (const r of all) await s.commit(r.nextOffset);
  t.equal(s.stats().checkpointWrites, 0, 'nothing written yet');
  await s.close();
  t.equal(JSON.parse(fs.readFileSync(`${dir}/checkpoint`, 'utf8')).readOffset, all[4]!.nextOffset, 'close writes it');
});

t.test('cache is bounded; a reader behind it reads the disk', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { memoryCacheBytes: 10 * (FRAME_HEADER + 1000) });
  for (let i = 0; i < 50; i++) await s.append(rec(i, 1000));
  const got = await readAll(s);
  t.same(got.map(seqOf), [...Array(50).keys()]);
  t.equal(s.stats().readsFromCache, 10, 'the newest 10 from memory');
  t.equal(s.stats().readsFromDisk, 40);
  await s.close();
});

t.test('close: appends rejected, reads stop, waiters released', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir);
  const pending = s.append(rec(1));
  const w = s.waitForData(1e9);
  const closing = s.close();
  await pending; // accepted before close: completes
  await w;
  await closing;
  await t.rejects(s.append(rec(2)), { code: 'SPW_ERR_SHUTTING_DOWN' });
  t.throws(() => s.checkCapacity(10), { code: 'SPW_ERR_SHUTTING_DOWN' });
  await t.rejects(s.read(0), { code: 'SPW_ERR_SHUTTING_DOWN' });
  await s.close(); // idempotent
});

t.test('interval fsync: acks after write, syncs on a timer', async (t) => {
  const dir = t.testdir();
  let syncs = 0;
  const io: SpoolIo = { writev: defaultIo.writev, sync: async (fh) => (syncs++, defaultIo.sync(fh)) };
  const s = await openNode(dir, { fsync: 30, io, segmentSize: 2000 });
  for (let i = 0; i < 40; i++) await s.append(rec(i, 200));
  t.ok(syncs <= 2, `no sync per append (${syncs})`);
  await new Promise((r) => setTimeout(r, 80));
  t.ok(syncs >= 1, 'the timer synced');
  t.same((await readAll(s)).map(seqOf), [...Array(40).keys()]);
  await s.close();
  const s2 = await openNode(dir, { fsync: 30, segmentSize: 2000 });
  t.equal((await readAll(s2)).length, 40);
  await s2.close();
});

t.test('rejects bad options and bad records', async (t) => {
  const dir = t.testdir();
  await t.rejects(FileNodeSpool.open(dir, 'x', { path: dir, segmentSize: 0, fsync: 'always', maxDiskUsagePerNode: 0, maxAgeMs: 0, onFull: 'reject', memoryCacheBytes: 0 }), {
    code: 'SPW_ERR_CONFIG',
  });
  const s = await openNode(dir);
  await t.rejects(s.append({ ...rec(1), accountID: -1 }), RangeError);
  await s.append(rec(2));
  t.same((await readAll(s)).map(seqOf), [2], 'a bad record does not disturb the queue');
  await s.close();
});

t.test('a spool path that cannot be used fails open with SPW_ERR_SPOOL_IO', async (t) => {
  const dir = t.testdir({ file: 'x' });
  await t.rejects(openNode(`${dir}/file/q`), { code: 'SPW_ERR_SPOOL_IO', message: /ENOTDIR/ });
});
