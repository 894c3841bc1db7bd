// Spillway itself, run from source (`node --import tsx src/main.ts ...`) as a real process.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './peers.js';
import { freePort } from './ports.js';
import { childEnv, startProc, waitForHttp, type Proc, type Teardown } from './procs.js';

/** The entry point run with `node --import tsx`; SPILLWAY_TEST_MAIN points the tests at another one. */
export const SPILLWAY_MAIN = process.env.SPILLWAY_TEST_MAIN ? path.resolve(process.env.SPILLWAY_TEST_MAIN) : path.join(REPO_ROOT, 'src', 'main.ts');

export interface SpillwayOptions {
  t?: Teardown;
  /** Extra environment for the process (merged over ours). */
  env?: NodeJS.ProcessEnv;
  /** Loopback port for -httpListenAddr; a free one by default (ignored if args set -httpListenAddr). */
  port?: number;
  /** -spool.path; a fresh temporary dir (removed on stop) by default (ignored if args set -spool.path). */
  spoolPath?: string;
  readyTimeoutMs?: number;
  maxLifetimeMs?: number;
  echo?: boolean;
}

export interface Spillway {
  port: number;
  url: string;
  /** Prometheus remote-write endpoint (vminsert's single-tenant path). */
  writeUrl: string;
  spoolPath: string;
  /** The full argument list the process was started with. */
  args: string[];
  /** The current process (a new one after restart()). */
  proc: Proc;
  /** Everything every incarnation printed, for diagnostics. */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
  /** Start again with the same arguments (after kill/stop) and wait until ready. */
  restart(): Promise<void>;
  /** SIGTERM (graceful drain), SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<void>;
}

function argValue(args: string[], flag: string): string | undefined {
  for (const a of args) {
    const m = new RegExp(`^--?${flag.replace(/\./g, '\\.')}=(.*)$`).exec(a);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Start Spillway with `args` (vminsert-style flags). Adds -httpListenAddr and -spool.path
 * when the caller did not, and waits for GET /-/ready to answer 200.
 */
export async function startSpillway(args: string[], opts: SpillwayOptions = {}): Promise<Spillway> {
  if (!existsSync(SPILLWAY_MAIN)) {
    throw new Error(`${path.relative(REPO_ROOT, SPILLWAY_MAIN)} does not exist yet: Spillway's entry point is needed for this test`);
  }
  const fullArgs = [...args];
  let listen = argValue(fullArgs, 'httpListenAddr');
  if (listen === undefined) {
    listen = `127.0.0.1:${opts.port ?? (await freePort())}`;
    fullArgs.push(`-httpListenAddr=${listen}`);
  }
  let tempDir: string | null = null;
  let spoolPath = argValue(fullArgs, 'spool.path');
  if (spoolPath === undefined) {
    spoolPath = opts.spoolPath ?? (tempDir = mkdtempSync(path.join(os.tmpdir(), 'spillway-spool-')));
    fullArgs.push(`-spool.path=${spoolPath}`);
  }
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  const url = `http://127.0.0.1:${port}`;
  const history: Proc[] = [];

  const spawnOne = (): Proc => {
    const proc = startProc({
      name: `spillway:${port}${history.length ? `#${history.length + 1}` : ''}`,
      cmd: process.execPath,
      args: ['--import', 'tsx', SPILLWAY_MAIN, ...fullArgs],
      cwd: REPO_ROOT,
      env: childEnv(opts.env),
      maxLifetimeMs: opts.maxLifetimeMs,
      echo: opts.echo,
    });
    history.push(proc);
    return proc;
  };
  const waitReady = (proc: Proc) => waitForHttp(`${url}/-/ready`, { proc, timeoutMs: opts.readyTimeoutMs ?? 30_000 });

  let stopped: Promise<void> | null = null;
  const sw: Spillway = {
    port,
    url,
    writeUrl: `${url}/api/v1/write`,
    spoolPath,
    args: fullArgs,
    proc: spawnOne(),
    output: () => history.map((p) => `--- ${p.name} (pid ${p.pid})\n${p.output()}`).join('\n'),
    kill: (signal = 'SIGKILL') => sw.proc.kill(signal),
    async restart() {
      if (sw.proc.running) throw new Error(`restart: ${sw.proc.name} is still running; kill or stop it first`);
      sw.proc = spawnOne();
      await waitReady(sw.proc);
    },
    async stop(graceMs = 15_000) {
      await sw.proc.stop(graceMs);
    },
  };
  const finalStop = () =>
    (stopped ??= (async () => {
      await sw.proc.stop(15_000);
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    })());
  opts.t?.teardown(finalStop);
  try {
    await waitReady(sw.proc);
  } catch (err) {
    await sw.proc.stop(2_000);
    throw err;
  }
  return sw;
}
