// The Dockerfile's contract with the orchestrators: non-root, spool volume, SIGTERM with
// exec-form entrypoint (node is PID 1 and drains), readiness healthcheck, and a build stage
// that compiles through `npm ci` (the prepare script).
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, checkArgsAgainstHelp, listenPort, flagValue, parseDockerfile } from './lib.js';

const text = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
const { stages } = parseDockerfile(text);
const runtime = stages[stages.length - 1]!;
const build = stages[0]!;
const ops = (stage: typeof runtime, op: string) => stage.filter((i) => i.op === op);
const last = (stage: typeof runtime, op: string) => ops(stage, op).at(-1);

t.test('multi-stage: a build stage and a runtime stage', async (t) => {
  t.ok(stages.length >= 2, 'at least two FROM');
  t.match(build[0]!.args, /\bAS\s+\w+/i, 'the build stage is named');
});

t.test('the build stage compiles through npm ci (prepare runs tsc)', async (t) => {
  const runs = ops(build, 'RUN').map((i) => i.args).join('\n');
  t.match(runs, /\bnpm ci\b/, 'npm ci');
  t.notMatch(runs, /npm ci[^\n&|;]*--ignore-scripts/, 'npm ci may not skip scripts: prepare compiles TypeScript');
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  t.match(pkg.scripts?.prepare ?? '', /\btsc\b/, 'package.json prepare runs tsc');
  const copies = ops(build, 'COPY').map((i) => i.args).join('\n');
  for (const need of ['package.json', 'package-lock.json', 'tsconfig.json', 'src']) t.match(copies, new RegExp(`(^|\\s)${need.replace('.', '\\.')}(\\s|$)`, 'm'), `build stage copies ${need} before npm ci`);
});

t.test('runs as a non-root user', async (t) => {
  const user = last(runtime, 'USER');
  t.ok(user, 'USER in the runtime stage');
  t.notMatch(user?.args ?? 'root', /^(root|0)(:|$)/, 'not root');
});

t.test('the spool is a volume at /data and the entrypoint uses it', async (t) => {
  const vols = ops(runtime, 'VOLUME').map((i) => i.args).join(' ');
  t.match(vols, /["\s[]?\/data["\s\]]?/, 'VOLUME /data');
  const ep = JSON.parse(last(runtime, 'ENTRYPOINT')!.args) as string[];
  t.ok(ep.includes('-spool.path=/data'), 'ENTRYPOINT passes -spool.path=/data');
  const runs = ops(runtime, 'RUN').map((i) => i.args).join('\n');
  t.match(runs, /chown\s+\S+\s+\/data/, '/data is owned by the runtime user before VOLUME');
});

t.test('STOPSIGNAL SIGTERM and an exec-form ENTRYPOINT (node is PID 1 and gets the signal)', async (t) => {
  t.equal(last(runtime, 'STOPSIGNAL')?.args, 'SIGTERM');
  const ep = last(runtime, 'ENTRYPOINT');
  t.ok(ep, 'ENTRYPOINT present');
  let parsed: unknown;
  t.doesNotThrow(() => (parsed = JSON.parse(ep!.args)), 'ENTRYPOINT is a JSON array (exec form)');
  t.ok(Array.isArray(parsed) && (parsed as string[]).every((s) => typeof s === 'string'), 'of strings');
  const arr = parsed as string[];
  t.equal(arr[0], 'node', 'runs node directly, no shell in between');
  t.equal(arr[1], 'bin/spillway.js', 'through the package bin');
  t.same(checkArgsAgainstHelp(arr.slice(2)), [], 'its flags are Spillway flags');
  t.notOk(last(runtime, 'CMD'), 'no CMD: compose command / Kubernetes args append flags to the ENTRYPOINT');
});

t.test('HEALTHCHECK asks /-/ready on the port Spillway listens on', async (t) => {
  const hc = last(runtime, 'HEALTHCHECK');
  t.ok(hc, 'HEALTHCHECK present');
  const m = /https?:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[^'"\s)]*)/.exec(hc!.args);
  t.ok(m, 'it requests a loopback URL');
  t.equal(m?.[2], '/-/ready', 'readiness path');
  const ep = JSON.parse(last(runtime, 'ENTRYPOINT')!.args) as string[];
  t.equal(Number(m?.[1]), listenPort(flagValue(ep.slice(2), 'httpListenAddr')), 'the port of -httpListenAddr (as the image runs it)');
  const expose = ops(runtime, 'EXPOSE').map((i) => i.args).join(' ');
  t.match(expose, new RegExp(`\\b${m?.[1]}\\b`), 'and EXPOSEd');
});

t.test('the runtime stage has what bin/spillway.js needs', async (t) => {
  const copies = ops(runtime, 'COPY').map((i) => i.args);
  const dests = copies.map((c) => c.split(/\s+/).at(-1));
  for (const d of ['./node_modules', './dist', './bin']) t.ok(dests.includes(d), `copies ${d}`);
  t.ok(copies.some((c) => /(^|\s)package\.json(\s|$)/.test(c)), 'copies package.json ("type": "module" and the version)');
  t.equal(last(runtime, 'WORKDIR')?.args, '/app', 'WORKDIR /app');
});
