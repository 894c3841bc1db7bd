// Wiring and lifecycle. Start order: recover the spools, start one sender per node, then
// listen; readiness turns true only after all three. SIGTERM drains in the reverse order.

import { readFileSync } from 'node:fs';
import { destination, pino, type Logger } from 'pino';
import { loadConfig, readNodesFile, type Config } from './config/load.js';
import { helpText } from './config/parse.js';
import { SpillwayError, isSpillwayError } from './errors.js';
import { buildServer, listenBacklog } from './ingest/server.js';
import { BodyRateGuard } from './ingest/body-rate.js';
import { PreparePool } from './ingest/prepare-pool.js';
import { Admission } from './ingest/admission.js';
import { Auth } from './ingest/auth.js';
import { redact } from './config/redact.js';
import { WriteHandler, type WriteHandlerDeps } from './ingest/write-handler.js';
import { rehomeOrphans } from './ingest/rehome.js';
import { Lifecycle } from './observe/lifecycle.js';
import { Metrics } from './observe/metrics.js';
import { registerObserveRoutes } from './observe/routes.js';
import { StatusModel } from './observe/status.js';
import { Nodes, type RunningNode } from './nodes.js';
import { Ring } from './route/ring.js';
import type { NodeSpoolOptions } from './spool/node-spool.js';
import { closeSpools, openSpools, type OrphanedQueue } from './spool/spool-set.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const BACKLOG_LOG_INTERVAL_MS = 30_000;

export interface Running {
  config: Config;
  /** The bound port (useful with -httpListenAddr=:0). */
  port: number;
  shutdown(reason: string): Promise<void>;
  /** Re-reads -nodesFile and applies a changed node list (what SIGHUP does). */
  reloadNodes(): Promise<void>;
}

/** The routing fields of the write path for a node list. */
function topology(list: readonly RunningNode[], config: Config): Pick<WriteHandlerDeps, 'ring' | 'spools' | 'nodeKinds' | 'replicationFactor'> {
  return {
    ring: new Ring(list.map((n) => n.config.id)),
    spools: list.map((n) => n.spool),
    nodeKinds: list.map((n) => n.config.kind),
    replicationFactor: Math.min(config.replicationFactor, list.length),
  };
}

export async function start(config: Config, log: Logger): Promise<Running> {
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  const nodeIds = config.nodes.map((n) => n.id);

  log.info({ version: VERSION, nodes: nodeIds.map(redact), replicationFactor: config.replicationFactor, spool: config.spool.path }, 'starting Spillway');
  const fsyncSeconds = metrics.spoolFsyncDuration;
  const spoolOpts: NodeSpoolOptions = {
    ...config.spool,
    log,
    io: {
      async sync(fh) {
        const end = fsyncSeconds.startTimer();
        try {
          await fh.datasync();
        } finally {
          end();
        }
      },
    },
  };
  // Listen first, so liveness answers while a large spool is recovered; writes get 503
  // (not ready) until the spools and senders are up.
  let writeHandler: WriteHandler | undefined;
  let nodes: Nodes | undefined;
  const status = new StatusModel(VERSION, config.replicationFactor, lifecycle, metrics, () => nodes?.observed() ?? []);
  metrics.setNodeSource({ nodes: () => status.observations() });
  metrics.setPhaseSource(() => lifecycle.current);
  const admission = new Admission(config.maxConcurrentInserts, config.insertMaxQueueMs);
  const bodyBudget = new Admission(Math.max(config.insertMaxBufferedBytes, config.maxInsertRequestSize), config.insertMaxQueueMs, 'buffered request bytes');
  const bodyRate = new BodyRateGuard(config.insertMinBodyRate);
  const app = buildServer({ writeHandler: () => writeHandler, admission, bodyBudget, bodyRate, auth: new Auth(config.httpAuth), tls: config.tls, lifecycle, metrics, logger: log, maxInsertRequestSize: config.maxInsertRequestSize });
  registerObserveRoutes(app, { lifecycle, metrics, status: () => status.doc() });

  // The accept queue must hold a reconnect storm of thousands of vmagents while the event
  // loop is busy; Node's default (511) resets the rest. Use what the kernel allows.
  const backlog = listenBacklog();
  let host = config.listen.host;
  try {
    await app.listen({ host, port: config.listen.port, backlog });
  } catch (err) {
    // A host without IPv6 cannot bind "::"; every-interface then means 0.0.0.0.
    if (host !== '::' || (err as { code?: string }).code !== 'EAFNOSUPPORT') throw err;
    host = '0.0.0.0';
    await app.listen({ host, port: config.listen.port, backlog });
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  log.info({ addr: `${host}:${port}`, backlog }, 'listening; recovering spools (not ready yet)');

  let opened;
  try {
    opened = await openSpools(spoolOpts, nodeIds, log);
  } catch (err) {
    await app.close();
    throw err;
  }
  const { spools: spoolMap, reports } = opened;
  for (const r of reports.nodes) {
    log.info(
      { node: r.node, records: r.records, bytes: r.bytes, samples: r.samples, truncatedBytes: r.truncatedBytes, movedAside: r.movedAside.length, ms: r.durationMs },
      r.records > 0 ? 'spool recovered: backlog will be delivered oldest first' : 'spool recovered: empty',
    );
    for (const p of r.problems) log.warn({ node: r.node }, p);
  }
  const running = new Nodes(config, spoolMap, spoolOpts, metrics, log);
  running.startAll(config.nodes);
  nodes = running;

  // The handler reads its topology from this object on every request; a node list change
  // replaces these fields in one synchronous step (see reloadNodes).
  const handlerDeps: WriteHandlerDeps = {
    ...topology(running.current, config),
    ...(config.rerouteOnUnavailable ? { exclusion: () => running.exclusion() } : {}),
    limits: config.limits,
    maxInsertRequestSize: config.maxInsertRequestSize,
    metrics,
  };
  // Decode workers, when asked for: ingest then uses more than one core.
  const pool = config.insertWorkers > 0 ? new PreparePool(config.insertWorkers, { limits: config.limits, maxInsertRequestSize: config.maxInsertRequestSize }, log, () => metrics.decodeWorkerRestarts.inc()) : undefined;
  if (pool) {
    handlerDeps.runner = pool;
    void pool.ready().then(() => log.info({ workers: pool.size }, 'decode workers running; until now requests were decoded on the main thread'));
  }
  const handler = new WriteHandler(handlerDeps);
  writeHandler = handler;
  // A spool at its cap with -spool.onFull=reject refuses writes: tell the load balancer.
  // "At its cap" means a modest record (1/16 of the cap, at most 64 KiB) would not fit.
  const probeBytes = config.spool.maxDiskUsagePerNode > 0 ? Math.min(64 * 1024, Math.floor(config.spool.maxDiskUsagePerNode / 16)) : 0;
  lifecycle.setBlocker(() => {
    for (const n of running.current) {
      try {
        n.spool.checkCapacity(probeBytes);
      } catch (err) {
        return `spool full: ${(err as Error).message}`;
      }
    }
    return undefined;
  });
  lifecycle.markReady();
  log.info({ addr: `${host}:${port}` }, 'ready: accepting remote-write');

  // Queues of nodes no longer configured go through the new ring while new data flows, one
  // batch of queues after the other.
  const rehoming = new AbortController();
  let rehomed = Promise.resolve();
  const rehome = (orphans: OrphanedQueue[]) => {
    if (orphans.length === 0) return;
    rehomed = rehomed.then(() =>
      rehomeOrphans(orphans, config.spool, handler, log, rehoming.signal).then(
        () => undefined,
        (err) => log.error({ err }, 're-routing removed node queues failed; they are kept and retried on the next start'),
      ),
    );
  };
  rehome(reports.orphaned);

  // A backlog is the thing an operator watches during and after an outage: log its progress.
  const progress = setInterval(() => {
    void status.doc().then((doc) => {
      for (const n of doc.nodes) {
        if (n.pendingRecords === 0) continue;
        log.info(
          { node: n.node, state: n.state, pendingSamples: n.pendingSamples, pendingBytes: n.pendingBytes, lagSeconds: n.oldestUnsentAgeSeconds, sentPerSecond: n.sentSamplesPerSecond, drainEtaSeconds: n.drainEtaSeconds },
          n.state === 'down' ? 'node down: holding its queue' : 'replaying backlog',
        );
      }
    });
  }, BACKLOG_LOG_INTERVAL_MS);
  progress.unref();

  // SIGHUP: re-read -nodesFile and move to the new node list without a restart.
  let reloading = Promise.resolve();
  const reloadNodes = () =>
    (reloading = reloading.then(async () => {
      if (config.nodesFile === '') {
        log.warn('SIGHUP: no -nodesFile is set, so there is no node list to reload');
        return;
      }
      let next;
      try {
        next = [...config.flagNodes, ...readNodesFile(config.nodesFile, config.flagNodes)];
        if (next.length === 0) throw new SpillwayError('SPW_ERR_CONFIG', 'the new node list is empty');
      } catch (err) {
        log.error({ err }, `SIGHUP: node list not changed: ${(err as Error).message}`);
        return;
      }
      const before = running.current.map((n) => n.config.id).join(',');
      if (before === next.map((n) => n.id).join(',')) {
        log.info('SIGHUP: node list unchanged');
        return;
      }
      const orphans = await running.apply(next, (list) => Object.assign(handlerDeps, topology(list, config)));
      log.info({ nodes: running.current.map((n) => n.config.id) }, 'SIGHUP: node list applied');
      rehome(orphans);
    }));

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string) =>
    (closing ??= (async () => {
      log.info({ reason, shutdownDelayMs: config.shutdownDelayMs }, 'draining: readiness is now false');
      lifecycle.markDraining();
      clearInterval(progress);
      if (config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
      await app.close(); // waits for in-flight requests, whose appends are then durable
      await pool?.close();
      rehoming.abort();
      await reloading;
      await rehomed;
      await running.stopAll();
      await closeSpools(spoolMap);
      lifecycle.markStopped();
      log.info('stopped cleanly');
    })());
  return { config, port, shutdown, reloadNodes };
}

export function createLogger(level: Config['logLevel']): Logger {
  return pino(
    {
      level: level.toLowerCase(),
      base: { app: 'spillway' },
      // Node URLs may carry user:password@; no log line ever shows them.
      hooks: {
        streamWrite: (line) => redact(line),
      },
    },
    destination({ dest: 2, sync: false }),
  );
}

export async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(redact(`${isSpillwayError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`));
    process.exit(2);
  }
  if (loaded.kind === 'help') {
    process.stdout.write(helpText());
    return;
  }
  if (loaded.kind === 'version') {
    process.stdout.write(`spillway ${VERSION}\n`);
    return;
  }
  const config = loaded.config;
  const log = createLogger(config.logLevel);
  let running: Running;
  try {
    running = await start(config, log);
  } catch (err) {
    log.fatal({ code: isSpillwayError(err) ? err.code : undefined, err }, `cannot start: ${(err as Error).message}`);
    log.flush();
    setTimeout(() => process.exit(1), 100);
    return;
  }
  const onSignal = (sig: NodeJS.Signals) => {
    // The grace period starts when the listener closes, after -http.shutdownDelay.
    const force = setTimeout(() => {
      log.error({ gracePeriodMs: config.gracePeriodMs }, 'grace period over; exiting with work in flight (the spool keeps what was acknowledged)');
      log.flush();
      process.exit(1);
    }, config.shutdownDelayMs + config.gracePeriodMs);
    force.unref();
    running.shutdown(sig).then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'error while shutting down');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('SIGHUP', () => void running.reloadNodes());
}

// Run only as the program, not when imported by tests.
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])main\.[jt]s$/.test(invoked)) void main();
