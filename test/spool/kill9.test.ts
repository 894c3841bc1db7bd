// The promise under kill -9: every record whose append was acknowledged is there after a
// restart, intact and in order (from the recovered checkpoint on).
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { closeSpools, openSpools } from '../../src/spool/spool-set.js';
import { intact, readAll, seqOf, spoolOpts } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/appender.ts', import.meta.url));

interface Ack {
  seq: number;
  offset: number;
}

function runAndKill(dir: string, startSeq: number, acksBeforeKill: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(startSeq)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acks: Ack[] = [];
    let buf = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 8000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^a (\d+) (\d+)$/.exec(line);
        if (m) acks.push({ seq: Number(m[1]), offset: Number(m[2]) });
      }
      if (!killed && acks.length >= acksBeforeKill) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`appender exited by itself: code ${code} signal ${signal}`));
      else resolve(acks);
    });
  });
}

t.test('kill -9 during appends, commits and rotations loses no acknowledged record', async (t) => {
  const dir = t.testdir();
  let nextSeq = 0;
  for (let round = 0; round < 2; round++) {
    const acks = await runAndKill(dir, nextSeq, 1500 + round * 500);
    t.ok(acks.length >= 100, `round ${round}: ${acks.length} acknowledged before the kill`);
    const set = await openSpools(spoolOpts(dir, { segmentSize: 64 * 1024 }), ['node-k9']);
    t.match(set.reports.lockTakenOver, /no longer running/, 'the dead child’s lock is taken over');
    const spool = set.spools.get('node-k9')!;
    const r = spool.recovery;
    t.comment(`round ${round}: checkpoint ${r.checkpoint}, ${r.records} pending records, ${r.truncatedBytes} bytes truncated, ${r.movedAside.length} moved aside`);
    t.same(r.movedAside.filter((m) => m.reason === 'bad-crc'), [], 'no corrupt frames');
    const recs = await readAll(spool);
    const byOffset = new Map(recs.map((x) => [x.offset, x]));
    const from = spool.readOffset;
    let missing = 0;
    let wrong = 0;
    for (const a of acks) {
      if (a.offset < from) continue; // delivered and checkpointed before the kill
      const got = byOffset.get(a.offset);
      if (!got) missing++;
      else if (seqOf(got) !== a.seq || !intact(got)) wrong++;
    }
    t.equal(missing, 0, 'every acknowledged record after the checkpoint is there');
    t.equal(wrong, 0, 'at the offset it was acknowledged with, intact');
    t.ok(
      recs.every((x, i) => i === 0 || x.offset > recs[i - 1]!.offset),
      'offsets strictly increase',
    );
    // Appenders run concurrently, but a record's seq is taken before its append, in call order.
    t.ok(
      recs.every((x, i) => i === 0 || seqOf(x) > seqOf(recs[i - 1]!)),
      'records in append order',
    );
    const acked = acks.filter((a) => a.offset >= from).length;
    t.ok(recs.length >= acked, `${recs.length} records read, ${acked} of them acknowledged`);
    nextSeq = Math.max(nextSeq, ...recs.map(seqOf), ...acks.map((a) => a.seq)) + 1;
    await closeSpools(set);
  }
});
