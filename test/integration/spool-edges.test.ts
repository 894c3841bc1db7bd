// The spool at its edges, with the real process: one owner per spool directory, and a full
// disk that costs a 503 with Retry-After, loses nothing acknowledged, and recovers by itself
// once space returns.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SPILLWAY_MAIN } from './helpers/spillway.js';
import { REPO_ROOT } from './helpers/peers.js';
import { freePort } from './helpers/ports.js';
import { httpRequest, startProc } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';

/** Incompressible label values, so a request takes real room on disk. */
const body = (i: number) =>
  writeRequestBody(
    Array.from({ length: 20 }, (_, k) => ({
      labels: [['__name__', 'disk_test'], ['i', String(i)], ['k', String(k)], ['noise', randomBytes(600).toString('base64')]] as [string, string][],
      samples: [{ value: i, timestamp: Date.now() }],
    })),
  );

t.test('a second Spillway on the same spool refuses to start and names the holder; after kill -9 a new one starts', async (t) => {
  const down = await freePort();
  const first = await startSpillway([`-remoteWrite.url=http://127.0.0.1:${down}/api/v1/write`], { t });
  const second = startProc({
    name: 'spillway-second',
    cmd: process.execPath,
    args: ['--import', 'tsx', SPILLWAY_MAIN, `-httpListenAddr=127.0.0.1:${await freePort()}`, `-spool.path=${first.spoolPath}`, `-remoteWrite.url=http://127.0.0.1:${down}/api/v1/write`],
    cwd: REPO_ROOT,
    maxLifetimeMs: 20_000,
    t,
  });
  const exit = await second.exited;
  t.not(exit.code, 0, 'exits non-zero');
  t.match(second.output(), /SPW_ERR_SPOOL_LOCKED/);
  t.match(second.output(), new RegExp(`pid ${first.proc.pid}`), 'names the holder');
  first.kill('SIGKILL');
  await first.proc.exited;
  await first.restart();
  t.match(first.output(), /took over a stale spool lock/);
});

t.test('disk full: 503 with Retry-After, nothing acknowledged lost, recovers when space returns', async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail('this test mounts a small tmpfs and needs root (CI runs as root)');
    return;
  }
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'spw-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', mnt]);
    } catch {
      // already gone
    }
    rmSync(mnt, { recursive: true, force: true });
  });
  const filler = path.join(mnt, 'filler');
  writeFileSync(filler, Buffer.alloc(1536 * 1024, 1));
  const down = await freePort();
  const sw = await startSpillway([`-remoteWrite.url=http://127.0.0.1:${down}/api/v1/write`, `-spool.path=${path.join(mnt, 'spool')}`, '-spool.segmentSize=256KiB'], { t });

  let acked = 0;
  let refused: Awaited<ReturnType<typeof postRemoteWrite>> | undefined;
  for (let i = 0; i < 400 && !refused; i++) {
    const res = await postRemoteWrite(sw.writeUrl, body(i));
    if (res.status === 204) acked++;
    else refused = res;
  }
  t.ok(refused, `the disk filled up after ${acked} acknowledged requests`);
  t.equal(refused?.status, 503);
  t.ok(refused?.headers['retry-after'], 'with Retry-After');
  t.match(refused?.body.toString() ?? '', /SPW_ERR_SPOOL_IO/);
  t.equal((await httpRequest(`${sw.url}/health`, { method: 'GET' })).status, 200, 'still serving');

  unlinkSync(filler);
  const after = await postRemoteWrite(sw.writeUrl, body(10_000));
  t.equal(after.status, 204, 'accepted again once space returned');
  acked++;
  const st = JSON.parse((await httpRequest(`${sw.url}/api/v1/status`, { method: 'GET' })).body.toString());
  t.equal(st.nodes[0].pendingRecords, acked, 'every acknowledged request is in the spool, the refused one is not');

  sw.kill('SIGKILL');
  await sw.proc.exited;
  await sw.restart();
  const again = JSON.parse((await httpRequest(`${sw.url}/api/v1/status`, { method: 'GET' })).body.toString());
  t.equal(again.nodes[0].pendingRecords, acked, 'and still there after kill -9');
});
