// Shared helpers for the deployment tests: reading the manifests, asking Spillway itself
// what it accepts (-help, /metrics), running it as a bounded child process, and pulling
// metric names out of PromQL.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEPLOY = path.join(REPO, 'deploy');
export const MAIN_TS = path.join(REPO, 'src', 'main.ts');

export const rel = (p: string) => path.relative(REPO, p);

// ---------------------------------------------------------------- YAML and files

/** Every document of a YAML file (anchors and `<<` merge keys resolved), failing on any parse error. */
export function loadYamlAll(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
  const out: unknown[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${rel(file)}: ${d.errors.map((e) => e.message).join('; ')}`);
    const v = d.toJS({ maxAliasCount: 1000 });
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

export function loadYaml<T = Record<string, unknown>>(file: string): T {
  const docs = loadYamlAll(file);
  if (docs.length !== 1) throw new Error(`${rel(file)}: expected one YAML document, found ${docs.length}`);
  return docs[0] as T;
}

export function filesUnder(dir: string, pred: (f: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, pred));
    else if (pred(p)) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------- Spillway's own flag list

export interface FlagInfo {
  name: string;
  type: string;
  default: string;
  values?: string[];
}

let helpCache: { text: string; flags: Map<string, FlagInfo> } | undefined;

/** `spillway -help`, run now from the working tree, parsed into flags with types and defaults. */
export function spillwayHelp(): { text: string; flags: Map<string, FlagInfo> } {
  if (helpCache) return helpCache;
  // The test files run side by side; they share one run of -help per version of the sources
  // that print it (src/config and src/main.ts).
  const hash = createHash('sha256').update(process.version);
  for (const f of [MAIN_TS, ...filesUnder(path.join(REPO, 'src', 'config'), (p) => p.endsWith('.ts'))]) hash.update(f).update(readFileSync(f));
  const cacheFile = path.join(os.tmpdir(), `spillway-deploy-help-${hash.digest('hex').slice(0, 16)}.txt`);
  let stdout = existsSync(cacheFile) ? readFileSync(cacheFile, 'utf8') : '';
  if (!stdout) {
    const r = spawnSync(...bare(process.execPath, ['--import', 'tsx', MAIN_TS, '-help']), { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`spillway -help failed (${r.status ?? r.signal}): ${r.stderr}`);
    stdout = r.stdout;
    const part = `${cacheFile}.${process.pid}`;
    writeFileSync(part, stdout);
    renameSync(part, cacheFile);
  }
  const flags = new Map<string, FlagInfo>();
  let last: FlagInfo | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^ {2}-(\S+)\s+(\w+)(?:\s+\(default ([^)]*)\))?/.exec(line);
    if (m) {
      last = { name: m[1]!, type: m[2]!, default: m[3] ?? '' };
      flags.set(last.name, last);
      continue;
    }
    const v = /^\s+one of: (.*)$/.exec(line);
    if (v && last) last.values = v[1]!.split(',').map((s) => s.trim());
  }
  if (flags.size < 5) throw new Error(`could not read the flag list from -help:\n${stdout}`);
  helpCache = { text: stdout, flags };
  return helpCache;
}

export interface Arg {
  name: string;
  value: string;
  raw: string;
}

/** Split `-name=value` / `--name=value` arguments; bare `-name` is a boolean true. */
export function parseArgs(args: readonly string[]): Arg[] {
  return args.map((raw) => {
    const m = /^--?([^=\s]+)(?:=(.*))?$/s.exec(raw);
    if (!m) throw new Error(`"${raw}" is not a -flag=value argument`);
    return { name: m[1]!, value: m[2] ?? 'true', raw };
  });
}

/** Problems with the arguments as Spillway's -help describes its flags (empty when all is well). */
export function checkArgsAgainstHelp(args: readonly string[]): string[] {
  const { flags } = spillwayHelp();
  const problems: string[] = [];
  for (const a of parseArgs(args)) {
    const f = flags.get(a.name);
    if (!f) {
      problems.push(`${a.raw}: -${a.name} is not in spillway -help`);
      continue;
    }
    if (f.values && !f.values.includes(a.value)) problems.push(`${a.raw}: -${a.name} takes one of ${f.values.join(', ')}`);
    if (f.type === 'int' && !/^-?\d+$/.test(a.value)) problems.push(`${a.raw}: -${a.name} takes an integer`);
    if (f.type === 'duration' && parseDurationMs(a.value) === undefined) problems.push(`${a.raw}: -${a.name} takes a duration`);
    if (f.type === 'bytes' && !/^\d+(\.\d+)?\s*([kmgt]i?b?|b)?$/i.test(a.value)) problems.push(`${a.raw}: -${a.name} takes a size`);
    if (f.type === 'bool' && !/^(true|false|1|0|yes|no)$/i.test(a.value)) problems.push(`${a.raw}: -${a.name} takes true or false`);
  }
  return problems;
}

/** A flag's value as given in `args` (the last one wins), else its -help default. */
export function flagValue(args: readonly string[], name: string): string {
  const given = parseArgs(args).filter((a) => a.name === name);
  if (given.length > 0) return given[given.length - 1]!.value;
  const f = spillwayHelp().flags.get(name);
  if (!f) throw new Error(`-${name} is not in spillway -help`);
  return f.default;
}

/** Durations as Spillway, Docker and Prometheus write them (500ms, 30s, 1m30s, 2h; bare number = seconds). */
export function parseDurationMs(raw: string): number | undefined {
  const s = raw.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = s;
  if (rest === '') return undefined;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** The port of a listen address such as ":8480" or "0.0.0.0:8480". */
export function listenPort(addr: string): number {
  const p = Number(addr.slice(addr.lastIndexOf(':') + 1));
  if (!Number.isInteger(p) || p <= 0) throw new Error(`no port in listen address "${addr}"`);
  return p;
}

// ---------------------------------------------------------------- Dockerfile

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions of a Dockerfile grouped by stage (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): { stages: Instruction[][]; preamble: Instruction[] } {
  const stages: Instruction[][] = [];
  const preamble: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    const start = i + 1;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!.trim();
    }
    const m = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start };
    if (ins.op === 'FROM') stages.push([ins]);
    else if (stages.length === 0) preamble.push(ins);
    else stages[stages.length - 1]!.push(ins);
  }
  return { stages, preamble };
}

// ---------------------------------------------------------------- processes

const SETPRIV = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
const ENV = existsSync('/usr/bin/env') ? '/usr/bin/env' : null;

/**
 * The command line that runs `cmd args` without the test runner's NODE_OPTIONS: the runner
 * adds its loaders to every child it sees spawned, and the deployments run plain node.
 */
export function bare(cmd: string, args: string[]): [string, string[]] {
  return ENV ? [ENV, ['-u', 'NODE_OPTIONS', cmd, ...args]] : [cmd, args];
}

export interface Child {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  output(): string;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * A child process that cannot outlive its test: killed after maxLifetimeMs, and by the
 * kernel if this process dies (setpriv --pdeathsig where available).
 */
export function startChild(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; maxLifetimeMs?: number }): Child {
  const [bc, ba] = bare(cmd, args);
  const [c, a] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bc, ...ba]] : [bc, ba];
  const proc = spawn(c, a, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const add = (b: Buffer) => {
    out += b.toString('utf8');
    if (out.length > 256 * 1024) out = out.slice(-128 * 1024);
  };
  proc.stdout!.on('data', add);
  proc.stderr!.on('data', add);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('error', (err) => {
      out += `\n[spawn error: ${err.message}]`;
      done = true;
      resolve({ code: -1, signal: null });
    });
    proc.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.maxLifetimeMs ?? 60_000);
  timer.unref();
  void exited.then(() => clearTimeout(timer));
  return {
    proc,
    exited,
    running: () => !done,
    output: () => out,
    async stop(graceMs = 5_000) {
      if (done) return;
      proc.kill(graceMs <= 0 ? 'SIGKILL' : 'SIGTERM');
      const k = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(k);
    },
  };
}

export interface HttpResult {
  status: number;
  body: string;
}

export function httpRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Poll url until it answers 200; fail early if the child exits. */
export async function waitFor200(url: string, child: Child, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!child.running()) throw new Error(`exited before ${url} answered 200:\n${child.output().slice(-4000)}`);
    try {
      const r = await httpRequest(url, { timeoutMs: 1_000 });
      if (r.status === 200) return;
      last = `${r.status} ${r.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last}):\n${child.output().slice(-4000)}`);
}

/** A loopback port nobody listens on (a moment ago); also usable as a refused, unreachable target. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const a = srv.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/**
 * Rewrite a deployment's Spillway arguments to run on this machine: listen on 127.0.0.1:port,
 * and every storage node (host:port or URL host) on its own refused loopback port. Returns
 * the arguments and the storage node count.
 */
export async function localizeArgs(args: readonly string[], port: number): Promise<{ args: string[]; nodes: number }> {
  const out: string[] = [];
  let nodes = 0;
  const seen = new Map<string, number>();
  const local = async (hostPort: string) => {
    let p = seen.get(hostPort);
    if (p === undefined) seen.set(hostPort, (p = await freePort()));
    return `127.0.0.1:${p}`;
  };
  for (const a of parseArgs(args)) {
    if (a.name === 'httpListenAddr') {
      out.push(`-httpListenAddr=127.0.0.1:${port}`);
    } else if (a.name === 'storageNode') {
      const items = a.value.split(',').map((s) => s.trim()).filter(Boolean);
      nodes += items.length;
      const mapped: string[] = [];
      for (const it of items) mapped.push(await local(it));
      out.push(`-storageNode=${mapped.join(',')}`);
    } else if (a.name === 'remoteWrite.url') {
      const items = a.value.split(',').map((s) => s.trim()).filter(Boolean);
      nodes += items.length;
      const mapped: string[] = [];
      for (const it of items) {
        const m = /^(https?:\/\/)([^/]+)(.*)$/.exec(it);
        if (!m) throw new Error(`-remoteWrite.url=${it} is not an http(s) URL`);
        mapped.push(`http://${await local(m[2]!)}${m[3]}`);
      }
      out.push(`-remoteWrite.url=${mapped.join(',')}`);
    } else {
      out.push(a.raw);
    }
  }
  if (!parseArgs(out).some((a) => a.name === 'httpListenAddr')) out.push(`-httpListenAddr=127.0.0.1:${port}`);
  return { args: out, nodes };
}

// ---------------------------------------------------------------- metrics and PromQL

/** Names and types from a /metrics exposition's `# TYPE` lines (present even before any sample). */
export function exportedMetrics(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** Every series name a query may select from an exposition: histograms as _bucket/_sum/_count. */
export function queryableNames(exported: Map<string, string>): Set<string> {
  const out = new Set<string>();
  for (const [name, type] of exported) {
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(name + s);
    else out.add(name);
  }
  return out;
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2']);

/** Metric names a PromQL/MetricsQL expression selects (functions, labels, keywords and variables excluded). */
export function promqlMetricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/gi, ' ');
  const names: string[] = [];
  const re = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const before = m.index > 0 ? s[m.index - 1]! : ' ';
    if (/[0-9.]/.test(before)) continue; // 1e3, 5m, 0.5
    const after = s.slice(m.index + m[0].length).match(/^\s*(.)/)?.[1];
    if (after === '(') continue; // a function
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return [...new Set(names)];
}

/** Label matchers `label op "value"` in an expression. */
export function labelMatchers(expr: string): Array<{ label: string; op: string; value: string }> {
  const out: Array<{ label: string; op: string; value: string }> = [];
  for (const m of expr.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) out.push({ label: m[1]!, op: m[2]!, value: m[3]! });
  return out;
}

/** The reasons Spillway counts refused requests by: the SPW_ERR_* codes, lower case, without the prefix. */
export function errorReasons(): Set<string> {
  const text = readFileSync(path.join(REPO, 'src', 'errors.ts'), 'utf8');
  return new Set([...text.matchAll(/\bSPW_ERR_([A-Z0-9_]+)\b/g)].map((m) => m[1]!.toLowerCase()));
}

export const PROMTOOL = [path.join(REPO, '.peers', 'root', 'usr', 'bin', 'promtool'), '/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));

// ---------------------------------------------------------------- the alert rules and the dashboard

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = loadYaml<{ groups: Array<{ name: string; rules: AlertRule[] }> }>(path.join(DEPLOY, 'alerts', 'spillway-alerts.yml'));
  return doc.groups.flatMap((g) => g.rules);
}

export interface DashboardQuery {
  where: string;
  expr: string;
}

/** Every query in the dashboard: panel targets (rows' nested panels too) and template variable queries. */
export function dashboardQueries(): { dashboard: Record<string, unknown>; queries: DashboardQuery[] } {
  const dashboard = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana', 'spillway.json'), 'utf8')) as Record<string, unknown>;
  const queries: DashboardQuery[] = [];
  type Panel = { title?: string; targets?: Array<{ expr?: string }>; panels?: Panel[] };
  const walk = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) queries.push({ where: `panel "${p.title}"`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dashboard.panels as Panel[]);
  const vars = ((dashboard.templating as { list?: Array<Record<string, unknown>> } | undefined)?.list ?? []).filter((v) => v.type === 'query');
  for (const v of vars) {
    const q = typeof v.query === 'string' ? v.query : String((v.query as { query?: string } | undefined)?.query ?? '');
    const lv = /^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$/s.exec(q);
    if (lv) queries.push({ where: `variable $${String(v.name)}`, expr: lv[1]! });
    else if (/^\s*query_result\((.*)\)\s*$/s.test(q)) queries.push({ where: `variable $${String(v.name)}`, expr: /^\s*query_result\((.*)\)\s*$/s.exec(q)![1]! });
    else if (q && !/^\s*(label_names|metrics)\(/.test(q)) queries.push({ where: `variable $${String(v.name)}`, expr: q });
  }
  return { dashboard, queries };
}

/** Grafana's variables replaced by values that keep the expression valid PromQL. */
export function expandGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__range|\$\{__rate_interval\}|\$\{__interval\}|\$\{__range\}/g, '5m')
    .replace(/\$\{?\w+(?::\w+)?\}?/g, '.*');
}
