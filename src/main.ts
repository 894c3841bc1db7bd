// Wiring and lifecycle. Start order: recover the spools, start one sender per node, then
// listen; readiness turns true only after all three. SIGTERM drains in the reverse order.

import path from 'node:path';
import { readFileSync } from 'node:fs';
import { destination, pino, type Logger } from 'pino';
import { loadConfig, type Config } from './config/load.js';
import { helpText } from './config/parse.js';
import { RemoteWriteSender } from './deliver/remote-write-sender.js';
import { VmstorageSender } from './deliver/vmstorage-sender.js';
import { DeadLetterFile } from './deliver/dead-letter.js';
import { isSpillwayError } from './errors.js';
import { buildServer } from './ingest/server.js';
import { WriteHandler } from './ingest/write-handler.js';
import { rehomeOrphans } from './ingest/rehome.js';
import { Lifecycle } from './observe/lifecycle.js';
import { Metrics } from './observe/metrics.js';
import { registerObserveRoutes } from './observe/routes.js';
import { StatusModel, type ObservedNode } from './observe/status.js';
import { Ring } from './route/ring.js';
import { closeSpools, nodeDirName, openSpools } from './spool/spool-set.js';
import type { NodeSpool } from './spool/types.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What main needs of a node's sender, whichever protocol it speaks. */
type Sender = RemoteWriteSender | VmstorageSender;

export interface Running {
  config: Config;
  /** The bound port (useful with -httpListenAddr=:0). */
  port: number;
  shutdown(reason: string): Promise<void>;
}

export async function start(config: Config, log: Logger): Promise<Running> {
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  const nodeIds = config.nodes.map((n) => n.id);

  log.info({ version: VERSION, nodes: nodeIds, replicationFactor: config.replicationFactor, spool: config.spool.path }, 'starting Spillway');
  const fsyncSeconds = metrics.spoolFsyncDuration;
  const { spools: spoolMap, reports } = await openSpools(
    {
      ...config.spool,
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
    },
    nodeIds,
    log,
  );
  for (const r of reports.nodes) {
    log.info(
      { node: r.node, records: r.records, bytes: r.bytes, samples: r.samples, truncatedBytes: r.truncatedBytes, movedAside: r.movedAside.length, ms: r.durationMs },
      r.records > 0 ? 'spool recovered: backlog will be delivered oldest first' : 'spool recovered: empty',
    );
    for (const p of r.problems) log.warn({ node: r.node }, p);
  }
  const spools: NodeSpool[] = nodeIds.map((id) => spoolMap.get(id)!);

  const senders: Sender[] = config.nodes.map((n, i) => {
    const deadLetter = DeadLetterFile.inNodeDir(path.join(config.spool.path, nodeDirName(n.id)));
    return n.kind === 'vmstorage'
      ? new VmstorageSender(n.id, n.addr, spools[i]!, config.sender, metrics, log, deadLetter)
      : new RemoteWriteSender(n.id, n.url, spools[i]!, config.sender, metrics, log, deadLetter);
  });
  for (const s of senders) s.start();

  // -rerouteOnUnavailable: route new data around nodes that are down or read-only, unless
  // every node is, in which case each keeps its own share in its spool.
  const unavailable = new Uint8Array(senders.length);
  const exclusion = config.rerouteOnUnavailable
    ? () => {
        let n = 0;
        for (let i = 0; i < senders.length; i++) {
          const st = senders[i]!.snapshot().state;
          unavailable[i] = st === 'down' || st === 'read-only' ? 1 : 0;
          n += unavailable[i]!;
        }
        return n > 0 && n < senders.length ? unavailable : undefined;
      }
    : undefined;

  const observed: ObservedNode[] = nodeIds.map((id, i) => ({ id, spoolStats: () => spools[i]!.stats(), sender: () => senders[i]!.snapshot() }));
  const status = new StatusModel(VERSION, config.replicationFactor, lifecycle, metrics, () => observed);
  metrics.setNodeSource({ nodes: () => status.observations() });

  const writeHandler = new WriteHandler({
    ring: new Ring(nodeIds),
    replicationFactor: Math.min(config.replicationFactor, nodeIds.length),
    spools,
    nodeKinds: config.nodes.map((n) => n.kind),
    ...(exclusion ? { exclusion } : {}),
    limits: config.limits,
    maxInsertRequestSize: config.maxInsertRequestSize,
    metrics,
  });
  const app = buildServer({ writeHandler, lifecycle, metrics, logger: log, maxInsertRequestSize: config.maxInsertRequestSize });
  registerObserveRoutes(app, { lifecycle, metrics, status: () => status.doc() });

  let host = config.listen.host;
  try {
    await app.listen({ host, port: config.listen.port });
  } catch (err) {
    // A host without IPv6 cannot bind "::"; every-interface then means 0.0.0.0.
    if (host !== '::' || (err as { code?: string }).code !== 'EAFNOSUPPORT') throw err;
    host = '0.0.0.0';
    await app.listen({ host, port: config.listen.port });
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
  lifecycle.markReady();
  log.info({ addr: `${host}:${port}` }, 'ready: accepting remote-write');

  // Queues of nodes no longer configured go through the new ring while new data flows.
  const rehoming = new AbortController();
  const rehomed =
    reports.orphaned.length === 0
      ? Promise.resolve()
      : rehomeOrphans(reports.orphaned, config.spool, writeHandler, log, rehoming.signal).then(
          () => undefined,
          (err) => log.error({ err }, 're-routing removed node queues failed; they are kept and retried on the next start'),
        );

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string) =>
    (closing ??= (async () => {
      log.info({ reason, shutdownDelayMs: config.shutdownDelayMs }, 'draining: readiness is now false');
      lifecycle.markDraining();
      if (config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
      await app.close(); // waits for in-flight requests, whose appends are then durable
      rehoming.abort();
      await rehomed;
      await Promise.all(senders.map((s) => s.stop()));
      await closeSpools(spoolMap);
      lifecycle.markStopped();
      log.info('stopped cleanly');
    })());
  return { config, port, shutdown };
}

export function createLogger(level: Config['logLevel']): Logger {
  return pino({ level: level.toLowerCase(), base: { app: 'spillway' } }, destination({ dest: 2, sync: false }));
}

export async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${isSpillwayError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`);
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
    const force = setTimeout(() => {
      log.error({ gracePeriodMs: config.gracePeriodMs }, 'grace period over; exiting with work in flight (the spool keeps what was acknowledged)');
      log.flush();
      process.exit(1);
    }, config.gracePeriodMs);
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
}

// Run only as the program, not when imported by tests.
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])main\.[jt]s$/.test(invoked)) void main();
