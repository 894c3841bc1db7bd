// A test-only vmstorage speaking the vminsert.02 server side (shared/vmstorage/PROTOCOL.md
// §2-§3): checks the hello and the client flag, reads packets, decodes their rows, records
// them and acks. Faults are switched on per test: read-only answers, a dropped connection
// halfway through a packet, a stall (packet read, never acked), refusing connections.

import net from 'node:net';
import { HELLO, OK } from '../../src/protocol/vmstorage/handshake.js';
import { decodeMetricRows, type DecodedMetricRow } from '../../src/protocol/vmstorage/metric-row.js';
import { ACK_READ_ONLY, ACK_STORED, MAX_SERVER_PACKET_BYTES, PACKET_HEADER_LEN, readPacketHeader, SocketReader } from '../../src/protocol/vmstorage/packet.js';

export interface ReceivedPacket {
  /** Which accepted connection (1-based) it came on. */
  conn: number;
  payload: Buffer;
  /** When it was read in full (Date.now()). */
  at: number;
  /** The ack sent: 1, 2, or 0 when none was (stalled). */
  ack: number;
}

export class FakeVmstorage {
  /** Rows of every packet acked 0x01, in order (duplicates included). */
  readonly stored: DecodedMetricRow[] = [];
  /** Every packet read in full, whatever the answer. */
  readonly packets: ReceivedPacket[] = [];
  /** Client isCompressed flag of each handshake. */
  readonly clientFlags: number[] = [];
  /** Every byte received on each connection (1-based), for byte-exact checks. */
  readonly wire = new Map<number, Buffer[]>();
  connections = 0;
  handshakes = 0;
  badHellos = 0;
  decodeErrors = 0;

  /** While true, every packet (data or empty probe) is discarded and answered 0x02. */
  readOnly = false;
  /** The next N data packets: read the header and half the payload, then reset the connection. */
  dropMidPacket = 0;
  /** The next N data packets: read in full and never answered (the connection stays open). */
  stall = 0;

  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private listenPort = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly host = '127.0.0.1') {}

  async start(port = 0): Promise<this> {
    const server = net.createServer((s) => this.serve(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => resolve());
    });
    this.server = server;
    this.listenPort = (server.address() as net.AddressInfo).port;
    return this;
  }

  get port(): number {
    return this.listenPort;
  }

  get addr(): string {
    return `${this.host}:${this.listenPort}`;
  }

  /** Data packets (non-empty) acked 0x01. */
  get storedPackets(): ReceivedPacket[] {
    return this.packets.filter((p) => p.ack === ACK_STORED && p.payload.length > 0);
  }

  /** Everything received on connection `conn` (1-based). */
  received(conn: number): Buffer {
    return Buffer.concat(this.wire.get(conn) ?? []);
  }

  /** Be down: stop listening (dials are refused) and reset every open connection. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Come back on the same port. */
  async up(): Promise<void> {
    await this.start(this.listenPort);
  }

  async stop(): Promise<void> {
    await this.down();
  }

  /** Resolves once cond() holds, re-checked after every packet (and every 20 ms). */
  async until(cond: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error('fake vmstorage: timed out waiting');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const conn = ++this.connections;
    const wire: Buffer[] = [];
    this.wire.set(conn, wire);
    socket.on('data', (c: Buffer) => wire.push(c));
    this.session(socket, new SocketReader(socket), conn).catch(() => socket.destroy());
  }

  private async session(socket: net.Socket, reader: SocketReader, conn: number): Promise<void> {
    // Handshake, server side. A wrong hello is closed without a word, as vmstorage does.
    const hello = await reader.read(HELLO.length, 5000);
    if (!hello.equals(HELLO)) {
      this.badHellos++;
      socket.destroy();
      return;
    }
    socket.write(OK);
    const flag = (await reader.read(1, 5000))[0]!;
    this.clientFlags.push(flag);
    if (flag !== 0) {
      // This fake does not decode zstd streams.
      socket.destroy();
      return;
    }
    socket.write(OK);
    socket.write(Buffer.from([0x00]));
    if (!(await reader.read(2, 5000)).equals(OK)) {
      socket.destroy();
      return;
    }
    this.handshakes++;
    this.notify();

    for (;;) {
      const len = readPacketHeader(await reader.read(PACKET_HEADER_LEN));
      if (len > MAX_SERVER_PACKET_BYTES) {
        socket.destroy();
        return;
      }
      if (len > 0 && this.dropMidPacket > 0) {
        this.dropMidPacket--;
        await reader.read(Math.floor(len / 2));
        socket.resetAndDestroy();
        this.notify();
        return;
      }
      const payload = len === 0 ? Buffer.alloc(0) : Buffer.from(await reader.read(len));
      if (len > 0 && this.stall > 0) {
        this.stall--;
        this.packets.push({ conn, payload, at: Date.now(), ack: 0 });
        this.notify();
        return; // never answers; the client has to give up on its own
      }
      if (this.readOnly) {
        this.packets.push({ conn, payload, at: Date.now(), ack: ACK_READ_ONLY });
        socket.write(Buffer.from([ACK_READ_ONLY]));
        this.notify();
        continue;
      }
      // vmstorage acks before decoding; a bad row only shows in its log and counters.
      try {
        this.stored.push(...decodeMetricRows(payload));
      } catch {
        this.decodeErrors++;
      }
      this.packets.push({ conn, payload, at: Date.now(), ack: ACK_STORED });
      socket.write(Buffer.from([ACK_STORED]));
      this.notify();
    }
  }
}
