// The processes under test: Spillway (from source, as a real process) and Debian's vmagent
// as the side-by-side peer, each pinned to its own CPU when the harness pins.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { PEERS_BIN, REPO_ROOT } from '../../test/integration/helpers/peers.js';
import { freePort } from '../../test/integration/helpers/ports.js';
import { httpRequest, startProc, waitForHttp, type Proc } from '../../test/integration/helpers/procs.js';
import { SPILLWAY_MAIN } from '../../test/integration/helpers/spillway.js';

export interface NodeStatus {
  node: string;
  state: string;
  pendingBytes: number;
  pendingRecords: number;
  pendingSamples: number;
  oldestUnsentAgeSeconds: number;
  diskBytes?: number;
  sentSamples: number;
  sentSamplesPerSecond?: number;
  failedAttempts?: number;
}

export interface StatusDoc {
  phase: string;
  ingest: { acceptedSamples: number };
  nodes: NodeStatus[];
}

export interface Target {
  kind: 'spillway' | 'vmagent';
  writeUrl: string;
  /** The current process (changes after a restart). */
  proc(): Proc;
  /** Spillway's /api/v1/status; null for vmagent or when it does not answer. */
  status(): Promise<StatusDoc | null>;
  stop(): Promise<void>;
}

export interface SpillwayTarget extends Target {
  kind: 'spillway';
  url: string;
  spoolPath: string;
  /** Everything every incarnation printed (last 512 KiB each). */
  output(): string;
  /** kill -9. */
  kill(): Promise<void>;
  /** Start again on the same spool and port (optionally with other node URLs); resolves when ready. */
  restart(nodeUrls?: string[]): Promise<void>;
}

export interface SpillwayLaunch {
  nodeUrls: string[];
  spoolPath: string;
  flags: string[];
  /** CPUs to run on (taskset list), or null. */
  cpu: string | null;
  /** Extra node options, e.g. --cpu-prof. */
  nodeArgs: string[];
  /** Extra environment (merged over ours, without NODE_OPTIONS). */
  env: Record<string, string>;
  maxLifetimeMs: number;
}

/**
 * Spillway from source as a real process, started under taskset so every thread it ever
 * creates stays on its CPUs.
 */
export async function startSpillwayTarget(l: SpillwayLaunch): Promise<SpillwayTarget> {
  if (!existsSync(SPILLWAY_MAIN)) throw new Error(`${SPILLWAY_MAIN} does not exist`);
  mkdirSync(l.spoolPath, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const history: Proc[] = [];
  let nodeUrls = l.nodeUrls;
  const spawnOne = async () => {
    const args = [
      ...l.nodeArgs,
      '--import',
      'tsx',
      SPILLWAY_MAIN,
      `-httpListenAddr=127.0.0.1:${port}`,
      ...nodeUrls.map((u) => `-remoteWrite.url=${u}`),
      `-spool.path=${l.spoolPath}`,
      ...l.flags,
    ];
    const proc = startProc({
      name: `spillway:${port}${history.length ? `#${history.length + 1}` : ''}`,
      cmd: l.cpu ? 'taskset' : process.execPath,
      args: l.cpu ? ['-c', l.cpu, process.execPath, ...args] : args,
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), ...l.env },
      maxLifetimeMs: l.maxLifetimeMs,
    });
    history.push(proc);
    await waitForHttp(`${url}/-/ready`, { proc, timeoutMs: 60_000 });
  };
  await spawnOne();
  const current = () => history[history.length - 1]!;
  return {
    kind: 'spillway',
    url,
    spoolPath: l.spoolPath,
    writeUrl: `${url}/api/v1/write`,
    proc: current,
    output: () => history.map((p) => `--- ${p.name} (pid ${p.pid})\n${p.output()}`).join('\n'),
    async status() {
      try {
        const res = await httpRequest(`${url}/api/v1/status`, { timeoutMs: 5_000 });
        return res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as StatusDoc) : null;
      } catch {
        return null;
      }
    },
    async kill() {
      current().kill('SIGKILL');
      await current().exited;
    },
    async restart(urls) {
      if (current().running) await current().stop(15_000);
      if (urls) nodeUrls = urls;
      await spawnOne();
    },
    stop: () => current().stop(15_000).then(() => undefined),
  };
}

/** Our environment without a test runner's loader settings (NODE_OPTIONS, TAP_*). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'TAP' || k.startsWith('TAP_') || k.startsWith('_TAPJS_')) continue;
    env[k] = v;
  }
  return env;
}

export function vmagentPath(): string | null {
  const p = path.join(PEERS_BIN, 'vmagent');
  try {
    accessSync(p, constants.X_OK);
    return p;
  } catch {
    return null;
  }
}

export interface VmagentLaunch {
  url: string;
  dataDir: string;
  flags: string[];
  cpu: string | null;
  maxLifetimeMs: number;
}

/**
 * vmagent accepting remote write on -httpListenAddr and forwarding to `url`, with its file
 * queue under dataDir. Started under taskset (not pinned afterwards) so the Go runtime sizes
 * GOMAXPROCS to the CPUs it really has.
 */
export async function startVmagentTarget(l: VmagentLaunch): Promise<Target> {
  const bin = vmagentPath();
  if (!bin) throw new Error('vmagent is not installed (.peers/bin/vmagent); run `npm run peers`');
  const port = await freePort();
  mkdirSync(l.dataDir, { recursive: true });
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-remoteWrite.url=${l.url}`,
    `-remoteWrite.tmpDataPath=${l.dataDir}`,
    '-loggerLevel=WARN',
    ...l.flags,
  ];
  const proc = startProc({
    name: `vmagent:${port}`,
    env: cleanEnv(),
    cmd: l.cpu ? 'taskset' : bin,
    args: l.cpu ? ['-c', l.cpu, bin, ...args] : args,
    maxLifetimeMs: l.maxLifetimeMs,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/health`, { proc, timeoutMs: 20_000 });
  return {
    kind: 'vmagent',
    writeUrl: `${url}/api/v1/write`,
    proc: () => proc,
    status: async () => null,
    stop: () => proc.stop(15_000).then(() => undefined),
  };
}
