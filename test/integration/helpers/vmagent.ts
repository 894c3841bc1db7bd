// Debian's vmagent 1.79.5 scraping static targets and remote-writing (snappy PRW 1.0).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { peerPath } from './peers.js';
import { freePort } from './ports.js';
import { startProc, waitForHttp, type Proc, type Teardown } from './procs.js';

export interface VmagentOptions {
  t?: Teardown;
  remoteWriteUrl: string | string[];
  /** `host:port` targets, all in one scrape job. */
  scrapeTargets: string[];
  /** Prometheus duration, e.g. "1s". */
  scrapeInterval?: string;
  /** The `job` label vmagent adds (default "pmm"). */
  jobName?: string;
  /** Directory for the scrape config and -remoteWrite.tmpDataPath; a temporary one by default. */
  dataDir?: string;
  port?: number;
  /** -remoteWrite.flushInterval (default 1s, vmagent's minimum useful value). */
  flushInterval?: string;
  extraArgs?: string[];
  maxLifetimeMs?: number;
  echo?: boolean;
}

export interface Vmagent {
  port: number;
  url: string;
  configPath: string;
  proc: Proc;
  /** SIGTERM (vmagent stops scraping and flushes what it holds), SIGKILL after a grace period. */
  stop(): Promise<void>;
}

export function scrapeConfigYaml(opts: { jobName: string; scrapeInterval: string; targets: string[] }): string {
  return [
    'global:',
    `  scrape_interval: ${opts.scrapeInterval}`,
    `  scrape_timeout: ${opts.scrapeInterval}`,
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(opts.jobName)}`,
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
}

export async function startVmagent(opts: VmagentOptions): Promise<Vmagent> {
  const bin = peerPath('vmagent');
  const port = opts.port ?? (await freePort());
  const tempDir = opts.dataDir ? null : mkdtempSync(path.join(os.tmpdir(), 'spillway-vmagent-'));
  const dir = opts.dataDir ?? tempDir!;
  const configPath = path.join(dir, 'scrape.yml');
  writeFileSync(
    configPath,
    scrapeConfigYaml({ jobName: opts.jobName ?? 'pmm', scrapeInterval: opts.scrapeInterval ?? '1s', targets: opts.scrapeTargets }),
  );
  const urls = Array.isArray(opts.remoteWriteUrl) ? opts.remoteWriteUrl : [opts.remoteWriteUrl];
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-promscrape.config=${configPath}`,
    `-remoteWrite.tmpDataPath=${path.join(dir, 'remotewrite')}`,
    `-remoteWrite.flushInterval=${opts.flushInterval ?? '1s'}`,
    ...urls.map((u) => `-remoteWrite.url=${u}`),
    '-loggerLevel=WARN',
    ...(opts.extraArgs ?? []),
  ];
  const proc = startProc({ name: `vmagent:${port}`, cmd: bin, args, maxLifetimeMs: opts.maxLifetimeMs, echo: opts.echo });
  const url = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;
  const agent: Vmagent = {
    port,
    url,
    configPath,
    proc,
    stop: () =>
      (stopped ??= (async () => {
        await proc.stop(15_000);
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      })()),
  };
  opts.t?.teardown(() => agent.stop());
  try {
    await waitForHttp(`${url}/health`, { proc, timeoutMs: 20_000 });
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return agent;
}
