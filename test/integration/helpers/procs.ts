// Child processes for integration tests and the demo: every process is tracked, bounded
// in time, and killed when its test tears down or when this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';

/** The part of a tap Test the helpers use; the demo passes nothing. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface ProcOptions {
  /** Short name used in messages, e.g. "victoria-metrics:8428". */
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Killed with SIGKILL after this long whatever happens (default 180 s; 0 = no limit). */
  maxLifetimeMs?: number;
  /** Echo the output to our stderr as it comes (default: env SPILLWAY_TEST_VERBOSE=1). */
  echo?: boolean;
  t?: Teardown;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const OUTPUT_LIMIT = 512 * 1024;
const live = new Set<Proc>();
// setpriv makes the kernel kill the child if this process dies without cleaning up
// (e.g. SIGKILL by a test runner's timeout); it execs, so the pid stays the child's.
const SETPRIV = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;

export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | null = null;
  readonly startedAt = Date.now();
  private chunks: string[] = [];
  private size = 0;
  private lifetimeTimer: NodeJS.Timeout | null = null;

  constructor(opts: ProcOptions) {
    this.name = opts.name;
    const echo = opts.echo ?? process.env.SPILLWAY_TEST_VERBOSE === '1';
    const [cmd, args] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', opts.cmd, ...opts.args]]
      : [opts.cmd, opts.args];
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    const onData = (stream: string) => (buf: Buffer) => {
      const text = buf.toString('utf8');
      this.append(text);
      if (echo) process.stderr.write(prefixLines(`[${this.name}${stream}] `, text));
    };
    this.child.stdout!.on('data', onData(''));
    this.child.stderr!.on('data', onData(''));
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (err) => {
        this.append(`\n[spawn error: ${err.message}]\n`);
        this.exitInfo ??= { code: -1, signal: null };
        live.delete(this);
        resolve(this.exitInfo);
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
        resolve(this.exitInfo);
      });
    });
    const maxLifetimeMs = opts.maxLifetimeMs ?? 180_000;
    if (maxLifetimeMs > 0) {
      this.lifetimeTimer = setTimeout(() => {
        this.append(`\n[killed: exceeded its ${maxLifetimeMs} ms lifetime]\n`);
        this.kill('SIGKILL');
      }, maxLifetimeMs);
      this.lifetimeTimer.unref();
    }
    opts.t?.teardown(() => this.stop());
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  private append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > OUTPUT_LIMIT && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }

  /** Everything the process printed (stdout and stderr interleaved), the last 512 KiB. */
  output(): string {
    return this.chunks.join('');
  }

  /** The last `lines` lines of output, for error messages. */
  tail(lines = 40): string {
    const all = this.output().trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.kill('SIGTERM');
    const timer = setTimeout(() => {
      this.append(`\n[killed: still running ${graceMs} ms after SIGTERM]\n`);
      this.kill('SIGKILL');
    }, graceMs);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }

  describeExit(): string {
    const e = this.exitInfo;
    if (!e) return `${this.name} (pid ${this.pid}) is running`;
    return `${this.name} (pid ${this.pid}) exited with ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}`;
  }
}

/**
 * Our environment minus the test runner's: tap puts its process-info loader in NODE_OPTIONS
 * and its settings in TAP_* variables, which must not reach the programs under test.
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'TAP' || k.startsWith('TAP_') || k.startsWith('_TAPJS_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function prefixLines(prefix: string, text: string): string {
  return text.replace(/^(?=.)/gm, prefix);
}

export function startProc(opts: ProcOptions): Proc {
  return new Proc(opts);
}

/** Kill every process started through this module (SIGKILL, synchronous). */
export function killAll(): void {
  for (const p of live) p.kill('SIGKILL');
}

// On a normal exit we kill what is left; if this process dies by a signal, setpriv's
// parent-death signal does it. (No signal handlers here: tap and the demo own those.)
process.on('exit', killAll);

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request on a fresh connection (no keep-alive left behind). Loopback only. */
export function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const u = new URL(url);
  if (!isLoopback(u.hostname)) return Promise.reject(new Error(`refusing to send test traffic to ${u.hostname}: loopback only`));
  return new Promise((resolve, reject) => {
    const req = http.request(
      u,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: opts.timeoutMs ?? 10_000 },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 10_000} ms: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Poll `url` until it answers `status` (default 200). Fails early, with the process
 * output, when `proc` exits; fails after `timeoutMs`.
 */
export async function waitForHttp(
  url: string,
  opts: { proc?: Proc; timeoutMs?: number; status?: number; intervalMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const want = opts.status ?? 200;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (opts.proc && !opts.proc.running) {
      throw new Error(`${opts.proc.describeExit()} while waiting for ${url}; its output:\n${opts.proc.tail()}`);
    }
    try {
      const res = await httpRequest(url, { timeoutMs: 2_000 });
      if (res.status === want) return;
      last = `HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(opts.intervalMs ?? 50);
  }
  const out = opts.proc ? `; output of ${opts.proc.name}:\n${opts.proc.tail()}` : '';
  throw new Error(`${url} did not answer ${want} within ${timeoutMs} ms (last: ${last})${out}`);
}
