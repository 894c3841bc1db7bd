// The VIP of the compose deployment, run for real where HAProxy is installed: two Spillways
// with the compose file's flags behind deploy/compose/haproxy.cfg (addresses mapped to
// loopback, everything else as written). A client writing through the VIP all along sees
// only 204s while the active replica is stopped (SIGTERM: readiness fails, the VIP moves to
// the backup within -http.shutdownDelay) and started again (the VIP moves back).
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';
import { DEPLOY, MAIN_TS, REPO, freePort, httpRequest, loadYaml, localizeArgs, startChild, waitFor200, type Child } from './lib.js';

const HAPROXY = [path.join(REPO, '.peers', 'root', 'usr', 'sbin', 'haproxy'), '/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));
if (!HAPROXY) {
  // `npm test` installs it (scripts/install-test-packages.sh); a missing peer is a failure.
  t.fail('haproxy is not installed: run `bash scripts/install-test-packages.sh` (as root) so the VIP failover test can run');
} else {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'spillway-vip-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

  const compose = loadYaml<{ services: Record<string, { command?: string[]; build?: unknown }> }>(path.join(DEPLOY, 'compose', 'docker-compose.yml'));
  const cfgText = readFileSync(path.join(DEPLOY, 'compose', 'haproxy.cfg'), 'utf8');
  const servers = [...cfgText.matchAll(/^\s*server\s+(\S+)\s+(\S+):(\d+)(.*)$/gm)].map((m) => ({ name: m[1]!, host: m[2]!, backup: /\bbackup\b/.test(m[4]!) }));
  const active = servers.find((s) => !s.backup)!;
  const backup = servers.find((s) => s.backup)!;

  const replicas = new Map<string, { port: number; args: string[]; child?: Child }>();
  for (const s of servers) {
    const port = await freePort();
    const { args } = await localizeArgs(compose.services[s.host]!.command!, port);
    replicas.set(s.host, { port, args: [...args, `-spool.path=${path.join(tmp, s.host)}`] });
  }
  const start = async (host: string) => {
    const r = replicas.get(host)!;
    r.child = startChild(process.execPath, ['--import', 'tsx', MAIN_TS, ...r.args], { cwd: REPO, maxLifetimeMs: 60_000 });
    t.teardown(() => r.child!.stop(0));
    return r.child;
  };

  // The config as written, with container names → loopback ports and no Docker DNS.
  const vipPort = await freePort();
  const statsPort = await freePort();
  let cfg = cfgText
    .replace(/^resolvers docker\n(?:[ \t]+.*\n)*/m, '')
    .replace(/\s+resolvers docker/g, '')
    .replace(/^(\s*log\s+).*$/m, '$1stderr format raw local0 warning')
    .replace(/^(\s*bind\s+):8480\b/m, `$1127.0.0.1:${vipPort}`)
    .replace(/^(\s*bind\s+):8404\b/m, `$1127.0.0.1:${statsPort}`);
  for (const s of servers) cfg = cfg.replace(new RegExp(`(server\\s+${s.name}\\s+)${s.host}:\\d+`), `$1127.0.0.1:${replicas.get(s.host)!.port}`);
  const cfgFile = path.join(tmp, 'haproxy.cfg');
  writeFileSync(cfgFile, cfg);

  const body = (i: number) =>
    snappyCompress(encodeWriteRequest([{ labels: [['__name__', 'vip_test'], ['job', 'node'], ['seq', String(i)]], samples: [[i, Date.now()]] }]));
  const write = async (i: number) => {
    try {
      const r = await httpRequest(`http://127.0.0.1:${vipPort}/insert/0/prometheus/api/v1/write`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
        body: body(i),
        timeoutMs: 10_000,
      });
      return r.status;
    } catch (err) {
      return (err as Error).message;
    }
  };
  const ingested = async (host: string) => {
    const r = replicas.get(host)!;
    if (!r.child?.running()) return NaN;
    const m = (await httpRequest(`http://127.0.0.1:${r.port}/metrics`)).body;
    return [...m.matchAll(/^spillway_ingest_samples_total\{[^}]*\} (\d+)/gm)].reduce((a, x) => a + Number(x[1]), 0);
  };

  t.test('writes through the VIP survive a stop and start of the active replica', async (t) => {
    const [a, b] = [await start(active.host), await start(backup.host)];
    await Promise.all([waitFor200(`http://127.0.0.1:${replicas.get(active.host)!.port}/-/ready`, a), waitFor200(`http://127.0.0.1:${replicas.get(backup.host)!.port}/-/ready`, b)]);
    const lb = startChild(HAPROXY, ['-db', '-f', cfgFile], { cwd: tmp, maxLifetimeMs: 60_000 });
    t.teardown(() => lb.stop(2_000));
    // Until HAProxy has checked the active server up.
    const deadline = Date.now() + 10_000;
    while ((await write(-1)) !== 204) {
      if (Date.now() > deadline || !lb.running()) throw new Error(`the VIP never accepted a write:\n${lb.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.ok((await ingested(active.host)) > 0, `writes go to the active replica (${active.name})`);
    t.equal(await ingested(backup.host), 0, `not to the backup (${backup.name})`);

    const statuses: Array<number | string> = [];
    let i = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        statuses.push(await write(i++));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    await new Promise((r) => setTimeout(r, 500));
    const stopped = Date.now();
    a.proc.kill('SIGTERM');
    const exit = await a.exited;
    t.equal(exit.code, 0, `the active replica drained and exited cleanly after ${Date.now() - stopped} ms`);
    const onBackup = await ingested(backup.host);
    t.ok(onBackup > 0, `the backup took over the writes (${onBackup} samples)`);

    await start(active.host);
    await waitFor200(`http://127.0.0.1:${replicas.get(active.host)!.port}/-/ready`, replicas.get(active.host)!.child!);
    const back = Date.now();
    let again = 0;
    while (Date.now() - back < 8_000 && (again = await ingested(active.host)) === 0) await new Promise((r) => setTimeout(r, 200));
    t.ok(again > 0, `writes return to the active replica once it is ready (${again} samples)`);
    writing = false;
    await writer;

    const bad = statuses.filter((s) => s !== 204);
    t.ok(statuses.length > 50, `${statuses.length} writes during the failover and back`);
    t.same(bad, [], 'every write through the VIP answered 204');
  });
}
