import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { acquireLockSync } from '../../src/spool/lock.js';
import { closeSpools, nodeDirName, openSpools } from '../../src/spool/spool-set.js';
import { readAll, rec, seqOf, spoolOpts } from './helpers.js';

const lockBody = (pid: number, hostname = os.hostname()) => JSON.stringify({ pid, hostname, startedAt: '2020-01-01T00:00:00.000Z', nonce: 'x' });

t.test('one directory per node, named by hash, with node.json; orphans listed, untouched', async (t) => {
  const path = t.testdir();
  const set = await openSpools(spoolOpts(path), ['vmstorage-1:8400', 'http://vm:8428/api/v1/write', 'vmstorage-1:8400']);
  t.equal(set.spools.size, 2);
  const a = set.spools.get('vmstorage-1:8400')!;
  t.equal(a.dir, `${path}/${nodeDirName('vmstorage-1:8400')}`);
  t.match(nodeDirName('x'), /^[0-9a-f]{16}$/);
  t.same(JSON.parse(fs.readFileSync(`${a.dir}/node.json`, 'utf8')), { node: 'vmstorage-1:8400' });
  await a.append(rec(1));
  t.same(set.reports.orphaned, []);
  t.equal(set.reports.nodes.length, 2);
  await closeSpools(set);
  t.notOk(fs.existsSync(`${path}/lock`), 'lock released');

  // The node list changes: the old queue is reported, not touched. Non-queue folders are not queues.
  fs.mkdirSync(`${path}/dead-letter`);
  const set2 = await openSpools(spoolOpts(path), ['http://vm:8428/api/v1/write']);
  t.same(set2.reports.orphaned, [{ dir: a.dir, node: 'vmstorage-1:8400' }]);
  await closeSpools(set2.spools);
  const set3 = await openSpools(spoolOpts(path), ['vmstorage-1:8400']);
  t.same((await readAll(set3.spools.get('vmstorage-1:8400')!)).map(seqOf), [1], 'its data survived');
  await closeSpools(set3);
});

t.test('a second open of the same path in this process is refused', async (t) => {
  const path = t.testdir();
  const set = await openSpools(spoolOpts(path), ['a']);
  await t.rejects(openSpools(spoolOpts(path), ['a']), { code: 'SPW_ERR_SPOOL_LOCKED' });
  await closeSpools(set);
  const again = await openSpools(spoolOpts(path), ['a']);
  await closeSpools(again);
});

t.test('a lock held by a live process refuses; a dead one is taken over', async (t) => {
  const path = t.testdir();
  const child = spawn(process.execPath, ['-e', 'setTimeout(()=>{},5000)'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await new Promise((r) => child.once('spawn', r));
  fs.writeFileSync(`${path}/lock`, lockBody(child.pid!));
  await t.rejects(openSpools(spoolOpts(path), ['a']), { code: 'SPW_ERR_SPOOL_LOCKED', message: new RegExp(`held by pid ${child.pid} on .* since 2020`) });
  t.equal(fs.readFileSync(`${path}/lock`, 'utf8'), lockBody(child.pid!), 'the live lock is untouched');

  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const set = await openSpools(spoolOpts(path), ['a']);
  t.match(set.reports.lockTakenOver, /no longer running/);
  t.equal(JSON.parse(fs.readFileSync(`${path}/lock`, 'utf8')).pid, process.pid);
  t.same(
    fs.readdirSync(path).filter((n) => n.startsWith('lock')),
    ['lock'],
    'no temp or stale files left',
  );
  await closeSpools(set);
});

t.test('stale lock with our own pid, another host, or garbage', async (t) => {
  const path = t.testdir();
  fs.writeFileSync(`${path}/lock`, lockBody(process.pid));
  const l = acquireLockSync(path);
  t.match(l.tookOver, /our pid/);
  l.release();

  fs.writeFileSync(`${path}/lock`, lockBody(1, 'some-other-host'));
  t.throws(() => acquireLockSync(path), { code: 'SPW_ERR_SPOOL_LOCKED', message: /some-other-host/ });
  fs.writeFileSync(`${path}/lock`, 'garbage');
  t.throws(() => acquireLockSync(path), { code: 'SPW_ERR_SPOOL_LOCKED', message: /not a Spillway lock/ });
  fs.rmSync(`${path}/lock`);
  const l2 = acquireLockSync(path);
  t.equal(l2.tookOver, null);
  t.ok(JSON.parse(fs.readFileSync(l2.path, 'utf8')).nonce);
  l2.release();
});

t.test('a pid reused by an unrelated process does not keep the lock', { skip: !fs.existsSync('/proc/self/stat') && 'no /proc' }, async (t) => {
  const path = t.testdir();
  // Our pid is alive, but the recorded start time is not ours: the lock is from another life of this pid.
  fs.writeFileSync(`${path}/lock`, JSON.stringify({ pid: process.ppid, hostname: os.hostname(), startedAt: 'x', nonce: 'y', procStart: '1' }));
  const l = acquireLockSync(path);
  t.match(l.tookOver, /another process/);
  l.release();
});

t.test('open failure releases the lock', async (t) => {
  const path = t.testdir();
  const bad = `${path}/${nodeDirName('n')}`;
  fs.mkdirSync(bad);
  fs.writeFileSync(`${bad}/node.json`, JSON.stringify({ node: 'someone-else' }));
  await t.rejects(openSpools(spoolOpts(path), ['ok', 'n']), { code: 'SPW_ERR_SPOOL_CORRUPT' });
  t.notOk(fs.existsSync(`${path}/lock`));
});

t.test('processes racing for a stale lock: exactly one wins', async (t) => {
  const path = t.testdir();
  const racer = fileURLToPath(new URL('./fixtures/lock-racer.ts', import.meta.url));
  for (let round = 0; round < 2; round++) {
    // A lock left by a dead process (round 1: by the previous round's winner, which exited).
    if (round === 0) fs.writeFileSync(`${path}/lock`, lockBody(2 ** 22 + 12345));
    const at = Date.now() + 1500;
    const outs = await Promise.all(
      Array.from({ length: 3 }, () => {
        const c = spawn(process.execPath, ['--import', 'tsx', racer, path, String(at)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        return new Promise<string>((r) => c.on('exit', () => r(out.trim())));
      }),
    );
    t.equal(outs.filter((o) => o === 'won').length, 1, `round ${round}: ${outs.join(', ')}`);
    t.ok(outs.every((o) => o === 'won' || o === 'lost: SPW_ERR_SPOOL_LOCKED'));
    t.same(fs.readdirSync(path).filter((n) => n.startsWith('lock')), ['lock'], 'no temp files left');
  }
});
