// Prepares write requests (prepare.ts) in worker threads, so decoding uses more than one
// core while the main thread keeps HTTP, the spools and the senders (the spools have one
// owner). A request's body is copied into a buffer the worker then owns (transfer, not
// clone), and its node records come back the same way.
//
// Routing reaches the workers as a message sent before any job that uses it; a port
// delivers in order, so each job is split by the routing that was current when it was sent.
// A worker that dies fails its pending requests with a retryable 500 and is replaced.

import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { SpillwayError, type ErrorCode } from '../errors.js';
import type { SeriesLimits } from '../protocol/prw/types.js';
import type { Tenant } from './paths.js';
import type { NodeKind, PrepareCounts, Prepared, Routing, WriteInput } from './prepare.js';
import { PrepareFailure, type PrepareRunner } from './write-handler.js';

export interface WorkerInit {
  limits: SeriesLimits;
  maxInsertRequestSize: number;
}

export type ToWorker =
  | { type: 'routing'; nodeIds: readonly string[]; replicationFactor: number; nodeKinds: readonly NodeKind[] }
  | { type: 'job'; id: number; tenant: Tenant; encoding: WriteInput['encoding']; format: WriteInput['format']; receivedAtMs?: number; body: Uint8Array; exclude?: Uint8Array };

export type FromWorker =
  | { ready: true }
  | { id: number; ok: true; prepared: Prepared }
  | { id: number; ok: false; error: { code: ErrorCode; detail?: string; retryAfter?: number }; counts: PrepareCounts };

interface Pending {
  resolve: (p: Prepared) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** The routing this worker was last sent. */
  routing: Routing | undefined;
  spawnedAt: number;
  /** Loaded and listening; until then requests go elsewhere. */
  ready: boolean;
}

/** A dead worker is replaced no sooner than this after it was started, so a crash loop does not spin. */
const RESPAWN_MIN_MS = 1_000;

export class PreparePool implements PrepareRunner {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private readyWaiters: (() => void)[] = [];

  constructor(
    readonly size: number,
    private readonly init: WorkerInit,
    private readonly log: Logger,
    /** Called for every worker that died (spillway_decode_worker_restarts_total). */
    private readonly onRestart: () => void = () => {},
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  prepare(tenant: Tenant, input: WriteInput, routing: Routing): Promise<Prepared> | undefined {
    if (this.closed) return Promise.reject(new SpillwayError('SPW_ERR_SHUTTING_DOWN', undefined, { retryAfter: 5 }));
    // The least busy worker: requests differ a lot in size, so round robin would queue
    // small ones behind a large one while another worker idles. Before any worker has
    // loaded (start, restart) the caller prepares, so readiness waits for no thread.
    let slot: Slot | undefined;
    for (const s of this.slots) if (s.ready && (slot === undefined || s.pending.size < slot.pending.size)) slot = s;
    if (slot === undefined) return undefined;
    if (slot.routing === undefined || !sameRouting(slot.routing, routing)) {
      slot.routing = routing;
      slot.worker.postMessage({ type: 'routing', nodeIds: routing.ring.nodeIds, replicationFactor: routing.replicationFactor, nodeKinds: routing.nodeKinds } satisfies ToWorker);
    }
    const id = this.nextId++;
    const body = new Uint8Array(input.body.length);
    body.set(input.body);
    const job: ToWorker = { type: 'job', id, tenant: { accountID: tenant.accountID, projectID: tenant.projectID }, encoding: input.encoding, format: input.format, body };
    if (input.receivedAtMs !== undefined) job.receivedAtMs = input.receivedAtMs;
    if (routing.exclude) job.exclude = routing.exclude;
    return new Promise<Prepared>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(job, [body.buffer]);
    });
  }

  /** Resolves once every worker has loaded (tests, and the start log), or at close. */
  ready(): Promise<void> {
    if (this.allReady()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private allReady(): boolean {
    return this.closed || (this.slots.length === this.size && this.slots.every((s) => s.ready));
  }

  private wakeReadyWaiters(): void {
    if (!this.allReady()) return;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Requests being prepared or waiting for a worker. */
  get inFlight(): number {
    let n = 0;
    for (const s of this.slots) n += s.pending.size;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeReadyWaiters();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = startWorker(this.init);
    // Idle workers must not keep a stopping process alive; close() ends them anyway.
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), routing: undefined, spawnedAt: Date.now(), ready: false };
    worker.on('message', (m: FromWorker) => {
      if ('ready' in m) {
        slot.ready = true;
        this.wakeReadyWaiters();
        return;
      }
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (m.ok) p.resolve(revive(m.prepared));
      else p.reject(new PrepareFailure(new SpillwayError(m.error.code, m.error.detail, m.error.retryAfter === undefined ? {} : { retryAfter: m.error.retryAfter }), m.counts));
    });
    const fail = (why: string, err?: unknown) => {
      if (this.closed) return;
      const i = this.slots.indexOf(slot);
      if (i < 0) return; // handled already ('error' is followed by 'exit')
      this.slots.splice(i, 1);
      this.onRestart();
      this.log.error({ err, pendingRequests: slot.pending.size }, `decode worker ${why}; its requests get 500 and are retried by the clients; starting a new one`);
      for (const p of slot.pending.values()) p.reject(new SpillwayError('SPW_ERR_INTERNAL', `decode worker ${why}`));
      slot.pending.clear();
      // A worker that dies as it starts would otherwise be restarted in a tight loop; until
      // one has loaded again, the callers prepare requests themselves.
      const respawn = () => {
        if (!this.closed) this.slots.push(this.spawn());
      };
      const wait = slot.spawnedAt + RESPAWN_MIN_MS - Date.now();
      if (wait > 0) setTimeout(respawn, wait).unref();
      else respawn();
    };
    worker.on('error', (err) => fail('failed', err));
    worker.on('exit', (code) => fail(`exited (code ${code})`));
    return slot;
  }
}

/**
 * Built, the worker is the .js next to this file. Run from source (tests, `npm run bench`
 * under tsx), it is the .ts, and a worker thread does not inherit the main thread's tsx
 * loader: a small bootstrap registers it first.
 */
function startWorker(init: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./prepare-worker.js', import.meta.url), { workerData: init });
  const entry = new URL('./prepare-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData: init });
}

function sameRouting(a: Routing, b: Routing): boolean {
  return a.ring === b.ring && a.replicationFactor === b.replicationFactor && a.nodeKinds === b.nodeKinds;
}

/** Typed arrays arrive as Uint8Array; the spool and senders expect Buffers. */
function revive(p: Prepared): Prepared {
  for (const r of p.records) {
    const d = r.rec.data as Uint8Array;
    r.rec.data = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }
  return p;
}
