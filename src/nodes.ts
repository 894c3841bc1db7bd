// The set of storage nodes at run time: one spool and one sender per node, in ring order.
// It starts them, reports on them, and applies a new node list (SIGHUP) without a restart:
// new nodes start empty, kept nodes keep their queues, removed nodes' queues are closed and
// then re-routed through the new ring.

import path from 'node:path';
import type { Logger } from 'pino';
import type { Config, StorageNodeConfig } from './config/load.js';
import { redact } from './config/redact.js';
import { DeadLetterFile } from './deliver/dead-letter.js';
import { RemoteWriteSender } from './deliver/remote-write-sender.js';
import { VmstorageSender } from './deliver/vmstorage-sender.js';
import type { Metrics } from './observe/metrics.js';
import type { ObservedNode } from './observe/status.js';
import { FileNodeSpool, NODE_FILE, type NodeSpoolOptions } from './spool/node-spool.js';
import { nodeDirName, type OrphanedQueue } from './spool/spool-set.js';
import type { NodeSpool } from './spool/types.js';

/** What the rest of the process needs of a node's sender, whichever protocol it speaks. */
export type Sender = RemoteWriteSender | VmstorageSender;

export interface RunningNode {
  config: StorageNodeConfig;
  spool: NodeSpool;
  sender: Sender;
}

export class Nodes {
  private list: RunningNode[] = [];
  /** Observed views, rebuilt when the list changes (status reads them per request). */
  private observedList: ObservedNode[] = [];
  private readonly unavailable: Uint8Array[] = [];

  constructor(
    private readonly config: Config,
    /** The open spools by node id (owned by the spool set, which holds the directory lock). */
    private readonly spools: Map<string, FileNodeSpool>,
    private readonly spoolOpts: NodeSpoolOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  get current(): readonly RunningNode[] {
    return this.list;
  }

  observed(): readonly ObservedNode[] {
    return this.observedList;
  }

  /** Starts a sender for every node of `nodes`, whose spools are already open. */
  startAll(nodes: readonly StorageNodeConfig[]): void {
    this.list = nodes.map((n) => this.startNode(n, this.spools.get(n.id)!));
    this.refresh();
  }

  /**
   * -rerouteOnUnavailable: nodes that are down or read-only, as a ring exclusion; undefined
   * when none is, or when all are (then each keeps its own share in its spool).
   */
  exclusion(): Uint8Array | undefined {
    const n = this.list.length;
    const out = (this.unavailable[n] ??= new Uint8Array(n));
    let down = 0;
    for (let i = 0; i < n; i++) {
      const st = this.list[i]!.sender.snapshot().state;
      out[i] = st === 'down' || st === 'read-only' ? 1 : 0;
      down += out[i]!;
    }
    return down > 0 && down < n ? out : undefined;
  }

  /**
   * Moves to a new node list. `swap` installs the new list in the write path (synchronously,
   * so every later request routes on it); afterwards the removed nodes' spools are closed,
   * which lets the appends already queued on them finish, and their queues are returned for
   * re-routing.
   */
  async apply(nodes: readonly StorageNodeConfig[], swap: (list: readonly RunningNode[]) => void): Promise<OrphanedQueue[]> {
    const byId = new Map(this.list.map((n) => [n.config.id, n]));
    const next: RunningNode[] = [];
    for (const n of nodes) {
      // The identity is the URL or address itself, so a kept id is the same target.
      const kept = byId.get(n.id);
      if (kept) {
        next.push(kept);
        byId.delete(n.id);
        continue;
      }
      const dir = path.join(this.config.spool.path, nodeDirName(n.id));
      const spool = this.spools.get(n.id) ?? (await FileNodeSpool.open(dir, n.id, this.spoolOpts));
      this.spools.set(n.id, spool);
      next.push(this.startNode(n, spool));
      this.log.info({ node: redact(n.id) }, 'node added: it receives its share of new data from now on');
    }
    this.list = next;
    this.refresh();
    swap(next);

    const orphans: OrphanedQueue[] = [];
    for (const gone of byId.values()) {
      await gone.sender.stop();
      await gone.spool.close();
      this.spools.delete(gone.config.id);
      orphans.push({ dir: path.join(this.config.spool.path, nodeDirName(gone.config.id)), node: gone.config.id });
      this.log.info({ node: redact(gone.config.id) }, `node removed: its queue is re-routed through the new ring (${NODE_FILE} kept until done)`);
    }
    return orphans;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.list.map((n) => n.sender.stop()));
  }

  private startNode(n: StorageNodeConfig, spool: NodeSpool): RunningNode {
    const deadLetter = DeadLetterFile.inNodeDir(path.join(this.config.spool.path, nodeDirName(n.id)));
    const sender =
      n.kind === 'vmstorage'
        ? new VmstorageSender(n.id, n.addr, spool, this.config.sender, this.metrics, this.log, deadLetter)
        : // Shown in logs, metrics and status without the URL's credentials.
          new RemoteWriteSender(redact(n.id), n.url, spool, this.config.sender, this.metrics, this.log, deadLetter);
    sender.start();
    return { config: n, spool, sender };
  }

  private refresh(): void {
    this.observedList = this.list.map((n) => ({ id: redact(n.config.id), spoolStats: () => n.spool.stats(), sender: () => n.sender.snapshot() }));
  }
}
