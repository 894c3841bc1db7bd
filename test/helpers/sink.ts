// A remote-write sink on loopback that records what it receives and fails on command.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export type Behaviour = { status: number; headers?: Record<string, string>; body?: string } | 'reset' | 'stall';

export class Sink {
  readonly received: Received[] = [];
  /** Answers to give, in order, before falling back to 204. */
  readonly script: Behaviour[] = [];
  /** Decides the answer from the body, after the script is used up (undefined: 204). */
  decide: ((body: Buffer) => Behaviour | undefined) | undefined;
  /** Sees each request's headers before it is answered. */
  onHeaders: ((headers: IncomingMessage['headers']) => void) | undefined;
  attempts = 0;
  private server!: Server;
  url = '';

  /** Listens on `port` (0: any free one). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.attempts++;
        this.onHeaders?.(req.headers);
        const b = this.script.shift() ?? this.decide?.(Buffer.concat(chunks));
        if (b === 'reset') return req.socket.destroy();
        if (b === 'stall') return; // never answers
        if (b) {
          res.writeHead(b.status, b.headers);
          return res.end(b.body ?? '');
        }
        this.received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
