// `npm run demo`: a small PMM-like setup on loopback to watch Spillway work.
//
//   exporter (5 hosts) ← vmagent (every 5 s) → Spillway (-replicationFactor=2) → 3 × victoria-metrics
//
// Pause a storage node with the printed `kill -STOP` command, watch its queue grow on
// Spillway's status page, resume it with `kill -CONT` and watch the queue drain.
// Options: --duration=SECONDS (stop by itself, print a summary), --hosts=N,
// --scrape-interval=5s. Data lives under .demo/ (wiped at start, kept after stop).
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startExporter, type Exporter } from '../test/integration/helpers/exporter.js';
import { REPO_ROOT } from '../test/integration/helpers/peers.js';
import { freePort } from '../test/integration/helpers/ports.js';
import { httpRequest, killAll, sleep, type Proc } from '../test/integration/helpers/procs.js';
import { startSpillway, type Spillway } from '../test/integration/helpers/spillway.js';
import { exportWhenStable, seriesKey, startVictoriaMetrics, type VictoriaMetrics } from '../test/integration/helpers/victoria-metrics.js';
import { startVmagent, type Vmagent } from '../test/integration/helpers/vmagent.js';

const NODES = 3;
const JOB = 'pmm';

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string' },
    hosts: { type: 'string', default: '5' },
    'scrape-interval': { type: 'string', default: '5s' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (opts.help) {
  console.log('usage: npm run demo [-- --duration=SECONDS] [--hosts=N] [--scrape-interval=5s]');
  process.exit(0);
}
const durationS = opts.duration === undefined ? 0 : Number(opts.duration);
const hostCount = Number(opts.hosts);
if (!Number.isFinite(durationS) || durationS < 0 || !Number.isInteger(hostCount) || hostCount < 1) {
  console.error('demo: --duration must be a number of seconds and --hosts a positive integer');
  process.exit(2);
}
// Processes live as long as the demo (bounded when --duration is given).
const maxLifetimeMs = durationS > 0 ? (durationS + 120) * 1000 : 0;

const demoDir = path.join(REPO_ROOT, '.demo');
const nodes: VictoriaMetrics[] = [];
let spillway: Spillway | undefined;
let exporter: Exporter | undefined;
let agent: Vmagent | undefined;
let stopping: Promise<void> | undefined;

const t0 = Date.now();
const log = (msg: string) => console.log(`demo: ${msg}`);

function box(title: string, lines: string[]): string {
  const width = Math.max(title.length + 2, ...lines.map((l) => [...l].length)) + 2;
  const pad = (l: string) => l + ' '.repeat(width - 2 - [...l].length);
  return [
    `┌─ ${title} ${'─'.repeat(width - title.length - 3)}┐`,
    ...lines.map((l) => `│ ${pad(l)} │`),
    `└${'─'.repeat(width)}┘`,
  ].join('\n');
}

function exportUrl(vm: VictoriaMetrics): string {
  return `${vm.url}/api/v1/export?match[]=${encodeURIComponent(`{job="${JOB}"}`)}`;
}

/** Fail loudly if a process dies while the demo runs. */
function watch(proc: Proc): void {
  void proc.exited.then(() => {
    if (stopping) return;
    console.error(`demo: ${proc.describeExit()} unexpectedly; its last output:\n${proc.tail(30)}`);
    void shutdown(1);
  });
}

async function summary(): Promise<void> {
  // Let vmagent flush and Spillway deliver what it accepted before counting.
  const exports = await Promise.all(nodes.map((vm) => exportWhenStable(vm.url, `{job="${JOB}"}`, { stableMs: 1_500, timeoutMs: 15_000 })));
  const perNode = nodes.map((vm, i) => ({ url: vm.url, series: exports[i]!.length, samples: exports[i]!.reduce((n, s) => n + s.values.length, 0) }));
  const holders = new Map<string, number>();
  for (const got of exports) {
    for (const s of got) {
      const k = seriesKey(s.metric);
      holders.set(k, (holders.get(k) ?? 0) + 1);
    }
  }
  const replicas: Record<string, number> = {};
  for (const n of holders.values()) replicas[n] = (replicas[n] ?? 0) + 1;
  // Spillway's own view, for diagnosis when the numbers look wrong.
  let spillwayNodes: unknown = null;
  try {
    const res = await httpRequest(`${spillway!.url}/api/v1/status`, { timeoutMs: 5_000 });
    spillwayNodes = (JSON.parse(res.body.toString('utf8')) as { nodes?: unknown }).nodes ?? null;
  } catch (err) {
    spillwayNodes = `status unavailable: ${(err as Error).message}`;
  }
  log(`summary ${JSON.stringify({ scrapes: exporter?.scrapes.length ?? 0, distinctSeries: holders.size, replicas, nodes: perNode, spillwayNodes })}`);
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return stopping;
  stopping = (async () => {
    log('stopping…');
    // A paused (SIGSTOP) process would never see SIGTERM.
    for (const p of [...nodes.map((n) => n.proc), spillway?.proc, agent?.proc]) p?.kill('SIGCONT');
    try {
      await agent?.stop();
      if (code === 0 && durationS > 0) await summary();
    } catch (err) {
      console.error(`demo: ${(err as Error).message}`);
      code = code || 1;
    }
    await spillway?.stop(20_000);
    await Promise.all(nodes.map((n) => n.stop()));
    await exporter?.stop();
    log(`stopped after ${((Date.now() - t0) / 1000).toFixed(1)}s; data kept in ${path.relative(process.cwd(), demoDir) || '.'}/`);
    process.exit(code);
  })();
  return stopping;
}

let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++signals > 1) {
      console.error('demo: second signal, killing everything');
      killAll();
      process.exit(130);
    }
    void shutdown(0);
  });
}

async function main(): Promise<void> {
  rmSync(demoDir, { recursive: true, force: true });
  mkdirSync(demoDir, { recursive: true });

  for (let i = 1; i <= NODES; i++) {
    const dataDir = path.join(demoDir, `vm-${i}`);
    mkdirSync(dataDir, { recursive: true });
    const vm = await startVictoriaMetrics({ dataDir, maxLifetimeMs });
    nodes.push(vm);
    watch(vm.proc);
  }
  log(`${NODES} victoria-metrics nodes up`);

  const spoolPath = path.join(demoDir, 'spool');
  spillway = await startSpillway(
    [
      ...nodes.map((n) => `-remoteWrite.url=${n.writeUrl}`),
      '-replicationFactor=2',
      `-httpListenAddr=127.0.0.1:${await freePort()}`,
      `-spool.path=${spoolPath}`,
      // Resume a paused node within seconds rather than a minute.
      '-remoteWrite.retryMaxInterval=5s',
    ],
    { maxLifetimeMs },
  );
  watch(spillway.proc);
  log('Spillway ready');

  exporter = await startExporter({ hosts: hostCount });
  const vmagentDir = path.join(demoDir, 'vmagent');
  mkdirSync(vmagentDir, { recursive: true });
  agent = await startVmagent({
    remoteWriteUrl: spillway.writeUrl,
    scrapeTargets: exporter.targets,
    scrapeInterval: opts['scrape-interval']!,
    jobName: JOB,
    dataDir: vmagentDir,
    maxLifetimeMs,
  });
  watch(agent.proc);

  const lines = [
    `Spillway        ${spillway.url}/               (pid ${spillway.proc.pid})`,
    `  metrics       ${spillway.url}/metrics        (spillway_spool_pending_samples{node=…})`,
    `  status JSON   ${spillway.url}/api/v1/status`,
    `  spool         ${path.relative(process.cwd(), spoolPath)}`,
    '',
    ...nodes.flatMap((n, i) => [
      `node ${i + 1}          ${n.url}/vmui    (pid ${n.proc.pid})`,
      `  export        ${exportUrl(n)}`,
    ]),
    '',
    `vmagent         ${agent.url}/targets  scrapes ${exporter.targets.length} hosts every ${opts['scrape-interval']} → Spillway`,
    `exporter        ${exporter.targets.map((t) => `http://${t}/metrics`).slice(0, 2).join('  ')}${exporter.targets.length > 2 ? '  …' : ''}`,
    '',
    'Try:',
    `  kill -STOP ${nodes[0]!.proc.pid}    pause node 1; watch its queue grow on the status page`,
    `  kill -CONT ${nodes[0]!.proc.pid}    resume it; watch the queue drain and node 1 catch up`,
    `  (node 2: ${nodes[1]!.proc.pid}, node 3: ${nodes[2]!.proc.pid}; with -replicationFactor=2 every series is on two nodes)`,
    '',
    durationS > 0 ? `Stops by itself after ${durationS}s (or Ctrl-C).` : 'Ctrl-C stops everything.',
  ];
  console.log(box('Spillway demo', lines));

  if (durationS > 0) {
    await sleep(durationS * 1000);
    await shutdown(0);
  }
}

main().catch(async (err: unknown) => {
  console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
  if (spillway && !stopping) console.error(spillway.output().slice(-3000));
  await shutdown(1);
});
