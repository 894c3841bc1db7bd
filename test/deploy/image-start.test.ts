// "The image's start command, run here without Docker, starts Spillway with the deployment's
// flags." The runtime stage's /app is assembled from the Dockerfile's COPY lines (dist/
// compiled the way the build stage's `npm ci` prepare does it, node_modules linked), its
// ENTRYPOINT is run with WORKDIR as cwd and ENV set, followed by the flags a deployment
// gives it: the compose services' command and the Kubernetes StatefulSet args (base and
// overlays). Paths map /app → the assembled app, /data → a temp dir; storage hosts map to
// refused loopback ports. Each must become ready; the compose one must also drain the way
// the VIP expects on SIGTERM.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEPLOY,
  MAIN_TS,
  REPO,
  bare,
  flagValue,
  freePort,
  httpRequest,
  loadYaml,
  localizeArgs,
  parseArgs,
  parseDockerfile,
  parseDurationMs,
  startChild,
  waitFor200,
  type Child,
} from './lib.js';
import { renderBuiltin, type Obj } from './kustomize.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';

// The deployments start side by side; the compose one's drain takes -http.shutdownDelay.
t.jobs = 6;

const tmp = mkdtempSync(path.join(os.tmpdir(), 'spillway-image-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const { stages } = parseDockerfile(readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1)!;
const workdir = runtime.filter((i) => i.op === 'WORKDIR').at(-1)!.args;
const entrypoint = JSON.parse(runtime.filter((i) => i.op === 'ENTRYPOINT').at(-1)!.args) as string[];
const imageEnv: Record<string, string> = {};
for (const e of runtime.filter((i) => i.op === 'ENV')) for (const m of e.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) imageEnv[m[1]!] = m[2]!.replace(/^"|"$/g, '');

/** This process's environment without the test runner's loaders and Spillway settings. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of Object.keys(e)) if (k === 'NODE_OPTIONS' || k.startsWith('SPILLWAY_') || /^_?TAP/.test(k)) delete e[k];
  return e;
}

/** The image's /app, built here from the runtime stage's COPY lines. */
function assembleApp(): { app: string; compiled: boolean; notes: string[] } {
  const app = path.join(tmp, 'app');
  mkdirSync(app, { recursive: true });
  const notes: string[] = [];
  let compiled = false;
  for (const c of runtime.filter((i) => i.op === 'COPY')) {
    const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--chown') && !p.startsWith('--chmod'));
    const from = parts[0]!.startsWith('--from=') ? parts.shift()!.slice('--from='.length) : null;
    const rawDest = parts.pop()!.replace(/^\/app\/?/, './');
    const dest = path.resolve(app, rawDest);
    const destIsDir = rawDest.endsWith('/') || rawDest === '.' || parts.length > 1;
    for (const src of parts) {
      if (from) {
        const inBuild = src.replace(/^\/app\/?/, '');
        if (inBuild === 'node_modules') {
          symlinkSync(path.join(REPO, 'node_modules'), dest);
        } else if (inBuild === 'dist') {
          // The build stage's `npm ci` runs prepare: tsc -p tsconfig.json (outDir dist).
          const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
          const r = spawnSync(...bare(process.execPath, [tsc, '-p', path.join(REPO, 'tsconfig.json'), '--outDir', dest]), { cwd: REPO, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
          compiled = existsSync(path.join(dest, 'main.js'));
          if (r.status !== 0) notes.push(`tsc exited ${r.status}${compiled ? ' but emitted dist/ (type errors elsewhere in the tree)' : ''}: ${(r.stdout + r.stderr).slice(0, 2000)}`);
        } else {
          throw new Error(`COPY --from=${from} ${src}: the test does not know how the build stage makes it`);
        }
      } else {
        cpSync(path.join(REPO, src), destIsDir ? path.join(dest, path.basename(src)) : dest, { recursive: true });
      }
    }
  }
  return { app, compiled, notes };
}

const { app, compiled, notes } = assembleApp();
for (const n of notes) t.comment(n);

/** The image's command line for these deployment flags, mapped onto this machine. */
async function commandLine(deployArgs: string[], spool: string) {
  const port = await freePort();
  const mapPath = (s: string) => s.replace(/(^|=)\/data(?=\/|$)/, `$1${spool}`).replace(/(^|=)\/app(?=\/|$)/, `$1${app}`);
  const [exe, ...epArgs] = entrypoint;
  if (exe !== 'node') throw new Error(`ENTRYPOINT starts ${exe}, not node`);
  const local = await localizeArgs([...epArgs.slice(1), ...deployArgs].map(mapPath), port);
  // Prefer the image's own entry (bin/spillway.js over compiled dist/); without dist/, the
  // same flags through the TypeScript sources.
  const script = compiled ? epArgs[0]! : MAIN_TS;
  const args = compiled ? [script, ...local.args] : ['--import', 'tsx', script, ...local.args];
  return { port, args, nodes: local.nodes };
}


interface Target {
  name: string;
  args: string[];
  drain?: boolean;
}

const targets: Target[] = [];
for (const f of ['docker-compose.yml', 'docker-compose.single.yml']) {
  const doc = loadYaml<{ services: Record<string, { build?: unknown; command?: string[] }> }>(path.join(DEPLOY, 'compose', f));
  const [name, svc] = Object.entries(doc.services).find(([, s]) => s.build !== undefined)!;
  targets.push({ name: `${f} ${name}`, args: svc.command ?? [], drain: f === 'docker-compose.yml' });
}
const k8s = path.join(DEPLOY, 'k8s');
for (const dir of [path.join(k8s, 'base'), ...readdirSync(path.join(k8s, 'overlays')).map((d) => path.join(k8s, 'overlays', d))]) {
  const sts = renderBuiltin(dir).find((o: Obj) => o.kind === 'StatefulSet')!;
  const c = (sts.spec.template.spec.containers as Obj[]).find((x) => x.name === 'spillway')!;
  targets.push({ name: `${path.relative(DEPLOY, dir)} StatefulSet`, args: c.args as string[] });
}

t.test('the image layout', async (t) => {
  t.equal(workdir, '/app', 'WORKDIR /app');
  t.ok(compiled, `dist/ compiled${notes.length ? `\n${notes.join('\n')}` : ''}`);
  t.ok(existsSync(path.join(app, entrypoint[1]!)), `${entrypoint[1]} is in the image`);
});

for (const target of targets) {
  t.test(`${target.name}: the image starts and becomes ready`, async (t) => {
    const spool = path.join(tmp, target.name.replace(/\W+/g, '_'), 'data');
    mkdirSync(spool, { recursive: true });
    const cl = await commandLine(target.args, spool);
    const child: Child = startChild(process.execPath, cl.args, { cwd: app, env: cleanEnv(imageEnv), maxLifetimeMs: 45_000 });
    // A temp spool: no drain needed at the end (a kill -9 loses nothing acknowledged anyway).
    t.teardown(() => (child.running() ? child.stop(0) : undefined));
    const base = `http://127.0.0.1:${cl.port}`;
    await waitFor200(`${base}/-/ready`, child, 20_000);
    t.pass(`GET /-/ready answered 200 (node ${cl.args.join(' ')})`);
    t.ok(readdirSync(spool).length > 0, 'the spool is written under the image path /data');
    const status = JSON.parse((await httpRequest(`${base}/api/v1/status`)).body) as { nodes?: unknown[]; replicationFactor?: number };
    t.equal(status.nodes?.length, cl.nodes, `${cl.nodes} storage node queue(s), as the flags name`);
    const rf = parseArgs(target.args).find((a) => a.name === 'replicationFactor');
    if (rf) t.equal(status.replicationFactor, Number(rf.value), `replicationFactor ${rf.value}`);

    if (!target.drain) return;
    // What the VIP relies on: on SIGTERM, readiness fails at once while writes and liveness
    // still work for -http.shutdownDelay; then the process exits cleanly within the grace.
    const delay = parseDurationMs(flagValue(target.args, 'http.shutdownDelay'))!;
    const grace = parseDurationMs(flagValue(target.args, 'http.gracePeriod'))!;
    const sent = Date.now();
    child.proc.kill('SIGTERM');
    let ready = 200;
    while (Date.now() - sent < 2_000 && (ready = (await httpRequest(`${base}/-/ready`)).status) === 200) await new Promise((r) => setTimeout(r, 50));
    t.equal(ready, 503, `/-/ready answers 503 within ${Date.now() - sent} ms of SIGTERM`);
    if (delay >= 2_000) {
      t.equal((await httpRequest(`${base}/-/healthy`)).status, 200, 'still alive while draining');
      const body = snappyCompress(encodeWriteRequest([{ labels: [['__name__', 'drain_test'], ['job', 'node']], samples: [[1, Date.now()]] }]));
      const w = await httpRequest(`${base}/api/v1/write`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' }, body });
      t.equal(w.status, 204, `a write arriving before the VIP noticed is still accepted during -http.shutdownDelay ${w.body}`);
    }
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([child.exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), delay + grace + 3_000)))]);
    clearTimeout(timer);
    t.ok(exit, `exited within shutdownDelay + gracePeriod (${Date.now() - sent} ms)`);
    t.equal(exit?.code, 0, 'exit code 0 (clean drain)');
    t.ok(Date.now() - sent >= delay - 200, `kept serving for -http.shutdownDelay (${delay} ms) first`);
  });
}
