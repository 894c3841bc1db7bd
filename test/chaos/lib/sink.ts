// A remote-write node for the chaos suites: an in-process loopback server that records what
// it accepted and misbehaves on command. It lives in the test process, so it outlives every
// Spillway crash and sees every delivery, including re-sends.
//
// What it answers is decided per request, first when the headers arrive ('start': a reset
// there cuts the connection mid-body) and again when the body is complete ('end': the body
// can be inspected, e.g. to refuse one particular record). Without a decider, `mode` is the
// standing answer, which a schedule can flip between up and failing windows. down()/up()
// close and reopen the listening socket on the same port (connection refused meanwhile).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Answer =
  | 'ok'
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Destroy the connection after the body arrived, without an answer. */
  | 'reset'
  /** Destroy the connection as soon as the request starts, before the body is read. */
  | 'reset-mid-body'
  /** Read the body, never answer (the client's timeout ends it). */
  | 'stall';

export interface Exchange {
  /** Sequence number of this attempt at this sink, from 1. */
  n: number;
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  /** Only at stage 'end'. */
  body?: Buffer;
}

export type Decider = (x: Exchange, stage: 'start' | 'end') => Answer | undefined;

export interface Arrival {
  at: number;
  path: string;
  body: Buffer;
}

export function answerKind(a: Answer): string {
  return typeof a === 'string' ? a : String(a.status);
}

export class ChaosSink {
  url = '';
  port = 0;
  /** The standing answer when no decider speaks. */
  mode: Answer = 'ok';
  decider: Decider | undefined;
  /** Keep accepted bodies (false: count only, for load suites). */
  keepBodies = true;
  /** Accepted requests (answered 2xx), in arrival order. */
  readonly received: Arrival[] = [];
  acceptedCount = 0;
  acceptedBytes = 0;
  attempts = 0;
  /** Attempts by answer kind: ok, 500, 429, reset, reset-mid-body, stall, refused (while down). */
  readonly byAnswer: Record<string, number> = {};
  /** Every attempt's time and answer kind, when enabled (bounded). */
  attemptLog: { at: number; kind: string }[] | null = null;
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private listening = false;
  private closed = false;

  constructor(readonly name: string) {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: '127.0.0.1', port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.listening = true;
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Stop listening and drop every connection: the node is gone (connection refused). */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port. */
  async up(): Promise<void> {
    if (this.listening || this.closed) return;
    for (let i = 0; ; i++) {
      try {
        await this.start(this.port);
        return;
      } catch (err) {
        if (i >= 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  get isUp(): boolean {
    return this.listening;
  }

  /** For good: up() does nothing afterwards. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.down();
  }

  /** Bodies accepted so far, in order. */
  bodies(): Buffer[] {
    return this.received.map((r) => r.body);
  }

  private count(kind: string, at: number): void {
    this.byAnswer[kind] = (this.byAnswer[kind] ?? 0) + 1;
    if (this.attemptLog && this.attemptLog.length < 1_000_000) this.attemptLog.push({ at, kind });
  }

  private decide(x: Exchange, stage: 'start' | 'end'): Answer | undefined {
    const d = this.decider?.(x, stage);
    if (d !== undefined) return d;
    if (stage === 'start') return this.mode === 'reset-mid-body' ? this.mode : undefined;
    return this.mode;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const x: Exchange = { n: ++this.attempts, at: Date.now(), path: req.url ?? '', headers: req.headers };
    const early = this.decide(x, 'start');
    if (early === 'reset-mid-body') {
      this.count('reset-mid-body', x.at);
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      x.body = Buffer.concat(chunks);
      const a = early ?? this.decide(x, 'end') ?? 'ok';
      this.count(answerKind(a), x.at);
      if (a === 'reset') return void req.socket.destroy();
      if (a === 'stall') return;
      if (a === 'reset-mid-body') return void req.socket.destroy();
      if (a !== 'ok') {
        res.writeHead(a.status, a.headers);
        res.end(a.body ?? '');
        return;
      }
      this.acceptedCount++;
      this.acceptedBytes += x.body.length;
      if (this.keepBodies) this.received.push({ at: Date.now(), path: x.path, body: x.body });
      res.writeHead(204).end();
    });
  }
}
