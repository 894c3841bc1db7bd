import t from 'tap';
import * as fs from 'node:fs';
import { FRAME_HEADER } from '../../src/spool/record.js';
import { intact, openNode, readAll, rec, seqOf } from './helpers.js';

const segFiles = (dir: string) => fs.readdirSync(dir).filter((n) => /^[0-9a-f]{16}$/.test(n)).sort();
const corrupt = (dir: string) => (fs.existsSync(`${dir}/corrupt`) ? fs.readdirSync(`${dir}/corrupt`).sort() : []);

/** A queue of `n` records of `size` bytes in segments of `segmentSize`; returns the record offsets. */
async function fill(dir: string, n: number, size = 100, segmentSize = 64 * 1024): Promise<number[]> {
  const s = await openNode(dir, { segmentSize });
  const offs: number[] = [];
  for (let i = 0; i < n; i++) offs.push(await s.appendAt(rec(i, size)));
  await s.close();
  return offs;
}

t.test('torn tail: a half-written last record is cut, the rest kept', async (t) => {
  const dir = t.testdir();
  const offs = await fill(dir, 10);
  const [seg] = segFiles(dir);
  const path = `${dir}/${seg}`;
  const full = fs.statSync(path).size;
  // A crash in the middle of the 11th record: its header and part of the data.
  const torn = Buffer.concat([fs.readFileSync(path).subarray(offs[3]!, offs[3]! + FRAME_HEADER + 40)]);
  fs.appendFileSync(path, torn);
  const s = await openNode(dir);
  t.equal(fs.statSync(path).size, full, 'cut back to the last whole record');
  t.equal(s.recovery.truncatedBytes, torn.length);
  t.equal(s.recovery.records, 10);
  t.match(s.recovery.movedAside, [{ reason: 'torn-tail', bytes: torn.length, offset: full }]);
  t.same((await readAll(s)).map(seqOf), [...Array(10).keys()]);
  // Appends continue right after the last good record.
  t.equal(await s.appendAt(rec(10)), full);
  await s.close();
  const s2 = await openNode(dir);
  t.same((await readAll(s2)).map(seqOf), [...Array(11).keys()]);
  t.equal(s2.recovery.truncatedBytes, 0, 'clean the second time');
  await s2.close();
});

t.test('torn tail: a header cut short, and a file extended with zeros', async (t) => {
  const dir = t.testdir();
  await fill(dir, 5);
  const path = `${dir}/${segFiles(dir)[0]}`;
  const full = fs.statSync(path).size;
  fs.appendFileSync(path, Buffer.from([1, 2, 3]));
  let s = await openNode(dir);
  t.equal(fs.statSync(path).size, full);
  t.match(s.recovery.movedAside, [{ reason: 'torn-tail', bytes: 3 }]);
  await s.close();

  fs.appendFileSync(path, Buffer.alloc(4096));
  s = await openNode(dir);
  t.equal(fs.statSync(path).size, full);
  t.equal(s.recovery.truncatedBytes, 4096);
  t.same(s.recovery.movedAside, [], 'zeros carry no data: nothing to keep');
  t.same((await readAll(s)).map(seqOf), [0, 1, 2, 3, 4]);
  await s.close();
});

t.test('bad CRC: scan stops at the last good record, the remainder is copied aside first', async (t) => {
  const dir = t.testdir();
  const offs = await fill(dir, 10);
  const path = `${dir}/${segFiles(dir)[0]}`;
  const before = fs.readFileSync(path);
  const flipAt = offs[6]! + FRAME_HEADER + 5; // a data byte of record 6
  const bad = Buffer.from(before);
  bad[flipAt] = bad[flipAt]! ^ 0x40;
  fs.writeFileSync(path, bad);

  const s = await openNode(dir);
  t.equal(fs.statSync(path).size, offs[6], 'truncated after record 5');
  t.same((await readAll(s)).map(seqOf), [0, 1, 2, 3, 4, 5]);
  t.equal(s.recovery.truncatedBytes, before.length - offs[6]!);
  t.equal(s.recovery.movedAside.length, 1);
  const m = s.recovery.movedAside[0]!;
  t.equal(m.reason, 'bad-crc');
  t.equal(m.offset, offs[6]);
  t.ok(m.file.startsWith(`${dir}/corrupt/`));
  t.ok(fs.readFileSync(m.file).equals(bad.subarray(offs[6]!)), 'the removed bytes are kept, byte for byte');
  t.ok(s.recovery.problems.some((p) => p.includes('bad-crc')));
  await s.close();
});

t.test('garbage length field is handled like a bad frame', async (t) => {
  const dir = t.testdir();
  const offs = await fill(dir, 4);
  const path = `${dir}/${segFiles(dir)[0]}`;
  const b = fs.readFileSync(path);
  b.writeUInt32LE(3, offs[2]!); // below the minimum frame
  fs.writeFileSync(path, b);
  const s = await openNode(dir);
  t.same((await readAll(s)).map(seqOf), [0, 1]);
  t.match(s.recovery.movedAside, [{ reason: 'bad-length' }]);
  await s.close();
});

t.test('segments after a damaged one are kept: order holds, only the damaged range is skipped', async (t) => {
  const dir = t.testdir();
  // 20 records of 200 bytes, 4 per 1000-byte segment.
  const offs = await fill(dir, 20, 200, 1000);
  const files = segFiles(dir);
  t.ok(files.length >= 5);
  const second = `${dir}/${files[1]}`;
  const start2 = parseInt(files[1]!, 16);
  const b = fs.readFileSync(second);
  b[FRAME_HEADER + 300] ^= 0xff; // damage the second record of the second segment
  fs.writeFileSync(second, b);

  const s = await openNode(dir, { segmentSize: 1000 });
  const got = await readAll(s);
  const seqs = got.map(seqOf);
  const lost = offs.map((o, i) => [o, i] as const).filter(([o]) => o >= start2 + 249 && o < start2 + b.length).map(([, i]) => i);
  t.same(seqs, [...Array(20).keys()].filter((i) => !lost.includes(i)), `all but the damaged range (${lost.join(',')})`);
  t.ok(got.every(intact));
  t.ok(seqs.every((v, i) => i === 0 || v > seqs[i - 1]!), 'strictly in order');
  t.equal(s.recovery.movedAside.length, 1);
  // Reading across the gap: asking for the end of the cut segment gives the next segment's first record.
  const cutEnd = start2 + fs.statSync(second).size;
  t.equal((await s.read(cutEnd))!.offset, parseInt(files[2]!, 16));
  await s.close();
});

t.test('an unreadable segment is moved aside whole and reported; the others stay', async (t) => {
  const dir = t.testdir();
  await fill(dir, 12, 200, 1000);
  const files = segFiles(dir);
  const victim = files[1]!;
  // A directory where a segment should be: stat works, reading does not.
  fs.rmSync(`${dir}/${victim}`);
  fs.mkdirSync(`${dir}/${victim}`);
  fs.writeFileSync(`${dir}/${victim}/marker`, 'x');

  const s = await openNode(dir, { segmentSize: 1000 });
  t.match(s.recovery.movedAside, [{ reason: 'unreadable', offset: parseInt(victim, 16) }]);
  t.notOk(fs.existsSync(`${dir}/${victim}`));
  t.ok(corrupt(dir).some((n) => n.startsWith(victim) && n.endsWith('.unreadable')));
  t.ok(fs.existsSync(`${s.recovery.movedAside[0]!.file}/marker`), 'moved, not deleted');
  const seqs = (await readAll(s)).map(seqOf);
  t.equal(seqs.length, 12 - 4);
  t.ok(seqs.every((v, i) => i === 0 || v > seqs[i - 1]!));
  await s.close();
});

t.test('checkpoint problems: missing or garbled means resend from the first segment', async (t) => {
  const dir = t.testdir();
  await fill(dir, 6);
  fs.writeFileSync(`${dir}/checkpoint`, 'not json');
  const s = await openNode(dir);
  t.equal(s.readOffset, 0);
  t.equal(s.recovery.records, 6);
  t.ok(s.recovery.problems.some((p) => p.includes('resending')));
  await s.close();
  t.equal(JSON.parse(fs.readFileSync(`${dir}/checkpoint`, 'utf8')).readOffset, 0, 'rewritten at close');
});

t.test('a record damaged after recovery is copied aside on read and skipped', async (t) => {
  const dir = t.testdir();
  const offs = await fill(dir, 5, 300);
  const s = await openNode(dir, { memoryCacheBytes: 0 });
  const path = `${dir}/${segFiles(dir)[0]}`;
  const fd = fs.openSync(path, 'r+');
  fs.writeSync(fd, Buffer.from([0xee]), 0, 1, offs[2]! + FRAME_HEADER + 10);
  fs.closeSync(fd);
  const got = await readAll(s);
  t.same(got.map(seqOf), [0, 1, 3, 4]);
  t.equal(s.stats().corruptRecords, 1);
  t.ok(corrupt(dir).some((n) => n.endsWith('.read-bad-crc')));
  await s.close();
});

t.test('recovery streams: a queue bigger than the scan buffer and records bigger than it', async (t) => {
  const dir = t.testdir();
  const s = await openNode(dir, { segmentSize: 8 << 20 });
  for (let i = 0; i < 3; i++) await s.append(rec(i, (1 << 20) + 12345)); // > the 1 MiB scan buffer
  for (let i = 3; i < 400; i++) await s.append(rec(i, 9000));
  await s.close();
  const s2 = await openNode(dir, { segmentSize: 8 << 20 });
  t.equal(s2.recovery.records, 400);
  t.equal(s2.recovery.truncatedBytes, 0);
  const got = await readAll(s2);
  t.same(got.map(seqOf), [...Array(400).keys()]);
  t.ok(got.every(intact));
  await s2.close();
});

t.test('a checkpoint inside a segment: recovery scans from it, consumed segments are removed at open', async (t) => {
  const dir = t.testdir();
  const offs = await fill(dir, 20, 200, 1000);
  // Pretend 9 records were delivered and checkpointed but the process died before deleting segments.
  fs.writeFileSync(`${dir}/checkpoint`, JSON.stringify({ readOffset: offs[9] }));
  const nBefore = segFiles(dir).length;
  const s = await openNode(dir, { segmentSize: 1000 });
  t.equal(s.readOffset, offs[9]);
  t.equal(s.recovery.records, 11);
  t.ok(s.recovery.deletedSegments >= 1 && segFiles(dir).length === nBefore - s.recovery.deletedSegments);
  t.same((await readAll(s)).map(seqOf), [...Array(11).keys()].map((i) => i + 9));
  t.equal(s.stats().pendingRecords, 11);
  await s.close();
});
