// Delivers one node's spool over Prometheus remote-write, oldest record first. A record is
// committed (the spool checkpoint moves past it) only after the node acknowledged it, so a
// crash re-sends at most the record in flight. Failures never skip a record: 5xx, 429,
// timeouts and connection errors are retried with backoff; a permanent 4xx sets the record
// aside in the dead-letter file, counted, and delivery moves on.

import { Pool } from 'undici';
import type { Logger } from 'pino';
import type { SenderOptions } from '../config/load.js';
import type { Metrics } from '../observe/metrics.js';
import { snappyCompress, snappyConcat, snappyDeclaredLength, snappyUncompress } from '../protocol/snappy.js';
import { Prw2Encoder } from '../protocol/prw2/encode.js';
import { RecordKind, type NodeSpool, type SpoolRecord } from '../spool/types.js';
import { Backoff, parseRetryAfter } from './backoff.js';
import { gatherWaiting, mergeRecords } from './batch.js';
import { DeadLetterFile } from './dead-letter.js';
import { Pacer } from './pacer.js';
import { isUnreachable, sleepUnlessAborted, sleepUntilReachable } from './sleep.js';

export type NodeState = 'idle' | 'up' | 'down' | 'replaying';

export interface SenderSnapshot {
  state: NodeState;
  lastError: string;
  sentSamples: number;
  sentRecords: number;
  failedAttempts: number;
  rejectedRecords: number;
  /** Remote-write version currently spoken to the node. */
  protocol?: 1 | 2;
}

type Attempt =
  | { ok: true }
  | { ok: false; permanent: boolean; status: number; reason: string; retryAfterMs?: number; unreachable?: boolean };

const USER_AGENT = 'spillway';
const PRW2_CONTENT_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';
/** Records sent together at most, and their uncompressed size at most (vmagent's block size). */
const MAX_BATCH_RECORDS = 256;
const MAX_BATCH_RAW_BYTES = 8 * 1024 * 1024;

/** A record, or several consecutive ones sent as one request (`parts`). */
type Batch = SpoolRecord & { parts?: SpoolRecord[] };
/** A record older than this when sent counts as replay (backlog), not live traffic. */
const REPLAY_THRESHOLD_MS = 10_000;

export class RemoteWriteSender {
  private readonly pool: Pool;
  private readonly origin: string;
  /** Where a node that refused connections is probed during backoff. */
  private readonly host: string;
  private readonly port: number;
  private readonly pathTemplate: string;
  /** Authorization header for this node, from its URL's user:password@ or the global flags. */
  private readonly authorization: string | undefined;
  /** Remote-write version spoken to this node (-remoteWrite.protocol); 2 falls back to 1 on 415. */
  private protocol: 1 | 2;
  private v2Encoder: Prw2Encoder | undefined;
  /** Records sent at once (-remoteWrite.maxInflightPerNode); 1 keeps strict order. */
  private readonly window: number;
  private readonly pacer: Pacer;
  private readonly abort = new AbortController();
  private readonly aborted = new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  private running: Promise<void> | undefined;
  private readonly snap: SenderSnapshot = { state: 'idle', lastError: '', sentSamples: 0, sentRecords: 0, failedAttempts: 0, rejectedRecords: 0 };

  constructor(
    readonly node: string,
    url: string,
    private readonly spool: NodeSpool,
    private readonly opts: SenderOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly deadLetter: DeadLetterFile,
  ) {
    // The tenant placeholder sits in the path; the origin is fixed per node.
    const parsed = new URL(url.replace('{tenant}', '__TENANT__'));
    this.origin = parsed.origin;
    this.host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
    this.pathTemplate = parsed.pathname.replace('__TENANT__', '{tenant}') + parsed.search;
    this.authorization = authorizationFor(parsed, opts);
    const tls = opts.auth;
    this.pool = new Pool(this.origin, {
      ...(parsed.protocol === 'https:' && tls
        ? { connect: { rejectUnauthorized: !tls.tlsInsecureSkipVerify, ...(tls.tlsCA !== '' ? { ca: tls.tlsCA } : {}) } }
        : {}),
      connections: Math.max(2, opts.maxInflightPerNode ?? 1),
      pipelining: 1,
      headersTimeout: opts.sendTimeoutMs,
      bodyTimeout: opts.sendTimeoutMs,
      connectTimeout: Math.min(opts.sendTimeoutMs, 10_000),
      keepAliveTimeout: 30_000,
    });
    this.window = Math.max(1, opts.maxInflightPerNode ?? 1);
    this.protocol = opts.protocol ?? 1;
    this.pacer = new Pacer(opts.replayMaxSamplesPerSecond);
  }

  start(): void {
    this.running ??= this.loop().catch((err) => {
      if (!this.abort.signal.aborted) this.log.error({ err, node: this.node }, 'sender stopped unexpectedly');
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    await this.pool.close().catch(() => this.pool.destroy());
    await this.deadLetter.close();
  }

  snapshot(): SenderSnapshot {
    return { ...this.snap, protocol: this.protocol };
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    // Records in flight, in spool order. The checkpoint only moves past a record once it
    // and every record before it were acknowledged, so a crash never skips one.
    const inflight: { rec: SpoolRecord; done: boolean; ok: boolean }[] = [];
    let slotFreed: (() => void) | undefined;
    let cursor = this.spool.readOffset;
    while (!this.stopped) {
      // -spool.onFull=drop-oldest may move the checkpoint past our cursor.
      if (this.spool.readOffset > cursor) cursor = this.spool.readOffset;
      if (inflight.length >= this.window) {
        await Promise.race([new Promise<void>((r) => (slotFreed = r)), this.aborted]);
        continue;
      }
      const rec = await this.spool.read(cursor);
      if (rec === null) {
        if (inflight.length === 0 && this.snap.state === 'replaying') this.setState('up');
        await Promise.race([this.spool.waitForData(cursor), this.aborted]);
        continue;
      }
      const batch = await this.gather(rec);
      const entry = { rec: batch, done: false, ok: false };
      inflight.push(entry);
      cursor = batch.nextOffset;
      void this.deliver(batch).then((ok) => {
        entry.done = true;
        entry.ok = ok;
        while (inflight.length > 0 && inflight[0]!.done && inflight[0]!.ok) {
          const head = inflight.shift()!;
          this.spool.commit(head.rec.nextOffset).catch((err) => this.log.error({ err, node: this.node }, 'cannot advance the spool checkpoint'));
        }
        // A record that did not finish (stopping) blocks the ones after it: they are re-sent
        // after the restart, which is the at-least-once promise.
        if (!ok) inflight.length = 0;
        slotFreed?.();
        slotFreed = undefined;
      });
    }
    await this.idle(inflight);
  }

  /** Waits (bounded) for sends in flight at stop, so their outcome is counted. */
  private async idle(inflight: { done: boolean }[]): Promise<void> {
    const end = Date.now() + 1000;
    while (inflight.some((e) => !e.done) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }

  /**
   * Records already waiting behind `first` go out with it as one request: a WriteRequest is
   * a list of repeated fields, so concatenated WriteRequests are one. Without this a node
   * fed by many small client requests gets one round trip per request and falls behind.
   * Stops at another tenant (the URL may differ), at MAX_BATCH_RAW_BYTES, or at the write end.
   */
  private async gather(first: SpoolRecord): Promise<Batch> {
    if (first.kind !== RecordKind.PrwSnappy) return first;
    let raw = snappyDeclaredLength(first.data);
    const parts = await gatherWaiting(
      this.spool,
      first,
      (r) => {
        if (r.kind !== first.kind || r.accountID !== first.accountID || r.projectID !== first.projectID) return false;
        const len = snappyDeclaredLength(r.data);
        if (raw + len > MAX_BATCH_RAW_BYTES) return false;
        raw += len;
        return true;
      },
      MAX_BATCH_RECORDS,
    );
    if (parts.length === 1) return first;
    // Joined as compressed blocks: no decompression, no second compression.
    return { ...mergeRecords(parts, snappyConcat(parts.map((p) => p.data))), parts };
  }

  /** Sends one record until the node takes it or refuses it for good. False when stopping. */
  private async deliver(rec: Batch): Promise<boolean> {
    const paceMs = this.pacer.delayFor(rec.samples);
    if (paceMs > 0 && !(await this.sleep(paceMs))) return false;
    const backoff = new Backoff(this.opts.retryMinIntervalMs, this.opts.retryMaxIntervalMs);
    for (;;) {
      if (this.stopped) return false;
      const started = performance.now();
      const res = await this.post(rec);
      if (res.ok) {
        this.metrics.nodeSendDuration.observe({ node: this.node }, (performance.now() - started) / 1000);
        this.metrics.nodeSentSamples.inc({ node: this.node }, rec.samples);
        this.metrics.nodeSentRecords.inc({ node: this.node }, rec.parts?.length ?? 1);
        this.metrics.nodeSentBytes.inc({ node: this.node }, rec.data.length);
        this.snap.sentSamples += rec.samples;
        this.snap.sentRecords += rec.parts?.length ?? 1;
        this.setState(Date.now() - rec.appendedAt > REPLAY_THRESHOLD_MS ? 'replaying' : 'up');
        return true;
      }
      if (this.stopped) return false;
      this.snap.failedAttempts++;
      this.snap.lastError = res.reason;
      this.metrics.nodeSendFailures.inc({ node: this.node, reason: res.status > 0 ? String(res.status) : res.reason.startsWith('timeout') ? 'timeout' : 'network' });
      if (res.permanent && rec.parts) {
        // Find the record the node refuses: the others go through on their own.
        for (const part of rec.parts) if (!(await this.deliver(part))) return false;
        return true;
      }
      if (res.permanent) {
        this.snap.rejectedRecords++;
        this.metrics.nodeRejectedRecords.inc({ node: this.node });
        this.metrics.nodeRejectedSamples.inc({ node: this.node }, rec.samples);
        this.log.error(
          { node: this.node, status: res.status, samples: rec.samples, deadLetter: this.deadLetter.path },
          `node refused a record permanently (${res.reason}); set aside in the dead-letter file`,
        );
        await this.deadLetter.add(rec, res.status, res.reason);
        return true;
      }
      this.setState('down');
      this.metrics.nodeRetries.inc({ node: this.node });
      const delay = backoff.next(res.retryAfterMs);
      if (backoff.attempts === 1 || backoff.attempts % 20 === 0) {
        this.log.warn({ node: this.node, attempt: backoff.attempts, retryInMs: delay }, `send failed: ${res.reason}; data stays in the spool and is retried`);
      }
      if (!(await this.sleep(delay, res.unreachable))) return false;
    }
  }

  private async post(rec: SpoolRecord): Promise<Attempt> {
    const path = this.pathTemplate.replace('{tenant}', `${rec.accountID}:${rec.projectID}`);
    const v2 = this.protocol === 2 && rec.kind === RecordKind.PrwSnappy ? this.toV2(rec) : undefined;
    try {
      const res = await this.pool.request({
        method: 'POST',
        path,
        body: v2 ? v2.body : rec.data,
        headers: {
          'content-type': v2 ? PRW2_CONTENT_TYPE : 'application/x-protobuf',
          'content-encoding': 'snappy',
          'x-prometheus-remote-write-version': v2 ? '2.0.0' : '0.1.0',
          'user-agent': USER_AGENT,
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        signal: this.abort.signal,
      });
      const status = res.statusCode;
      if (v2 && status === 415) {
        // The node does not take 2.0: from now on it gets 1.0, as vmagent does.
        await res.body.dump();
        this.protocol = 1;
        this.log.warn({ node: this.node }, 'node answered 415 to remote-write 2.0; sending it remote-write 1.0 from now on');
        return this.post(rec);
      }
      if (status >= 200 && status < 300) {
        await res.body.dump();
        if (v2) this.checkWritten(res.headers['x-prometheus-remote-write-samples-written'], v2.samples);
        return { ok: true };
      }
      const text = (await res.body.text().catch(() => '')).slice(0, 300).trim();
      const reason = `HTTP ${status}${text ? `: ${text}` : ''}`;
      // 429 and 5xx are transient; other 4xx will never succeed for this record.
      const permanent = status >= 400 && status < 500 && status !== 429 && status !== 408;
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      return retryAfterMs === undefined ? { ok: false, permanent, status, reason } : { ok: false, permanent, status, reason, retryAfterMs };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const timeout = e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT';
      const reason = `${timeout ? 'timeout' : 'network error'}: ${e.code ?? ''} ${e.message ?? String(err)}`.trim();
      return { ok: false, permanent: false, status: 0, reason, unreachable: isUnreachable(e.code) };
    }
  }

  private toV2(rec: SpoolRecord): { body: Buffer; samples: number } {
    const out = (this.v2Encoder ??= new Prw2Encoder()).encode(snappyUncompress(rec.data, MAX_BATCH_RAW_BYTES * 4));
    return { body: snappyCompress(out.body), samples: out.samples };
  }

  /** A 2.0 node says how much it stored; what it did not is counted, never silently lost. */
  private checkWritten(header: string | string[] | undefined, sent: number): void {
    const written = Number(Array.isArray(header) ? header[0] : header);
    if (header === undefined || !Number.isFinite(written) || written >= sent) return;
    this.metrics.nodeRejectedSamples.inc({ node: this.node }, sent - written);
    this.log.warn({ node: this.node, sent, written }, 'node stored fewer samples than sent (remote-write 2.0 Written header)');
  }

  private setState(state: NodeState): void {
    if (this.snap.state === state) return;
    const prev = this.snap.state;
    this.snap.state = state;
    if (state === 'down') this.log.warn({ node: this.node, from: prev }, 'node is down; its spool keeps growing until it returns');
    else if (prev === 'down') this.log.info({ node: this.node, to: state }, 'node is back; replaying its spool oldest first');
    else this.log.debug({ node: this.node, from: prev, to: state }, 'node state changed');
    if (state === 'up' || state === 'replaying') this.snap.lastError = '';
  }

  /** Waits `ms`, or less if stopping (false) or, with `probe`, once the node accepts connections. */
  private sleep(ms: number, probe = false): Promise<boolean> {
    return probe ? sleepUntilReachable(ms, this.host, this.port, this.abort.signal) : sleepUnlessAborted(ms, this.abort.signal);
  }
}

function authorizationFor(url: URL, opts: SenderOptions): string | undefined {
  if (url.username !== '' || url.password !== '') {
    return 'Basic ' + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64');
  }
  const a = opts.auth;
  if (a && a.basicUsername !== '') return 'Basic ' + Buffer.from(`${a.basicUsername}:${a.basicPassword}`).toString('base64');
  if (a && a.bearerToken !== '') return `Bearer ${a.bearerToken}`;
  return undefined;
}
