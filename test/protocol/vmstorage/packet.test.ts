import net from 'node:net';
import t, { type Test } from 'tap';
import { CLIENT_HANDSHAKE_PLAIN, clientHandshake, HELLO, SERVER_HANDSHAKE } from '../../../src/protocol/vmstorage/handshake.js';
import { decodeMetricRows, MetricRowFormatError } from '../../../src/protocol/vmstorage/metric-row.js';
import {
  DEFAULT_MAX_PACKET_BYTES,
  encodePacket,
  MAX_SERVER_PACKET_BYTES,
  packetTimeoutMs,
  parseAck,
  readPacketHeader,
  SocketReader,
  splitRows,
  VmstorageConnError,
  writePacketHeader,
} from '../../../src/protocol/vmstorage/packet.js';
import { HANDSHAKE_C2S_LEN, HANDSHAKE_S2C_LEN, rowsOf, vector } from './vectors.js';

/** A raw TCP server whose behaviour per connection is the test's; returns a connected client. */
async function pair(t: Test, serve: (s: net.Socket) => void): Promise<{ client: net.Socket; reader: SocketReader; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => {
    s.on('data', (c) => chunks.push(c));
    s.on('error', () => {});
    serve(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((r) => client.once('connect', r));
  t.teardown(() => {
    client.destroy();
    server.close();
  });
  return { client, reader: new SocketReader(client), received: () => Buffer.concat(chunks) };
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

t.test('handshake bytes are the captured ones', async (t) => {
  for (const key of ['01-plain', '03-route2-node0', '07-rf2x2-node1']) {
    t.equal(CLIENT_HANDSHAKE_PLAIN.toString('hex'), vector(`${key}-c2s.bin`).subarray(0, HANDSHAKE_C2S_LEN).toString('hex'), key);
    t.equal(SERVER_HANDSHAKE.toString('hex'), vector(`${key}-s2c.bin`).subarray(0, HANDSHAKE_S2C_LEN).toString('hex'), key);
  }
  t.equal(HELLO.toString('hex'), '766d696e736572742e3032');
});

t.test('client handshake against a server replaying the capture step by step', async (t) => {
  const { client, reader, received } = await pair(t, (s) => {
    // Answer each client step only once it has fully arrived, like vmstorage.
    let got = Buffer.alloc(0);
    let step = 0;
    s.on('data', (c) => {
      got = Buffer.concat([got, c]);
      if (step === 0 && got.length >= 11) {
        s.write('ok');
        step = 1;
      }
      if (step === 1 && got.length >= 12) {
        s.write(Buffer.from('ok\x00', 'latin1'));
        step = 2;
      }
    });
  });
  await clientHandshake(client, reader, { timeoutMs: 2000 });
  await tick();
  t.equal(received().toString('hex'), CLIENT_HANDSHAKE_PLAIN.toString('hex'));
  t.equal(reader.buffered, 0, 'nothing left unread');
});

t.test('handshake failures are classified', async (t) => {
  const reasonOf = async (serve: (s: net.Socket) => void, timeoutMs = 2000) => {
    const { client, reader } = await pair(t, serve);
    try {
      await clientHandshake(client, reader, { timeoutMs });
      return 'ok';
    } catch (err) {
      t.type(err, VmstorageConnError);
      return `${(err as VmstorageConnError).reason}: ${(err as Error).message}`;
    }
  };
  // vmstorage closes without a word on a hello it does not know.
  t.match(await reasonOf((s) => s.once('data', () => s.destroy())), /^protocol: .*does not accept "vminsert.02"/);
  t.match(await reasonOf((s) => s.once('data', () => s.write('no'))), /^protocol: .*answered "no"/);
  t.match(await reasonOf(() => {}, 200), /^timeout:/);
  t.match(
    await reasonOf((s) => {
      s.once('data', () => {
        s.write('ok');
        s.once('data', () => s.write(Buffer.from('ok\x01', 'latin1')));
      });
    }),
    /^protocol: .*compressed replies/,
  );
  t.match(await reasonOf((s) => s.once('data', () => s.write('o')), 200), /^timeout:/, 'half an answer, then silence');
});

t.test('packet framing', async (t) => {
  const h = writePacketHeader(60, Buffer.alloc(8));
  t.equal(h.toString('hex'), '000000000000003c');
  t.equal(readPacketHeader(h), 60);
  t.equal(writePacketHeader(2 ** 40 + 7, Buffer.alloc(8)).toString('hex'), '0000010000000007');
  t.equal(readPacketHeader(Buffer.from('0000010000000007', 'hex')), 2 ** 40 + 7);
  t.equal(encodePacket(Buffer.alloc(0)).toString('hex'), '0000000000000000', 'the empty probe');
  t.equal(encodePacket(vector('golden-row-up.bin')).toString('hex'), vector('golden-packet-up.bin').toString('hex'));
  t.ok(DEFAULT_MAX_PACKET_BYTES < MAX_SERVER_PACKET_BYTES);
});

t.test('acks', async (t) => {
  t.equal(parseAck(1), 'stored');
  t.equal(parseAck(2), 'read-only');
  for (const b of [0, 3, 0x6f, 0xff]) {
    t.throws(() => parseAck(b), { name: 'VmstorageConnError', reason: 'protocol' });
  }
});

t.test('deadlines: max(60 s, len / 300 kB/s)', async (t) => {
  t.equal(packetTimeoutMs(0), 60_000);
  t.equal(packetTimeoutMs(8 * 1024 * 1024), 60_000);
  t.equal(packetTimeoutMs(30_000_000), 100_000);
  t.equal(packetTimeoutMs(100, 250), 250, 'floor is injectable');
});

t.test('records are cut into packets at row boundaries', async (t) => {
  const series = Array.from({ length: 40 }, (_, i) => ({
    labels: [
      ['__name__', 'm'],
      ['i', 'x'.repeat(i * 7)],
    ] as const,
    samples: [[i, i] as const],
  }));
  const rows = rowsOf(series, series.map((_, i) => i));
  const ends: number[] = [];
  for (const max of [1, 100, 500, 1000, rows.length, rows.length * 2]) {
    const n = splitRows(rows, max, ends);
    const parts = ends.slice(0, n).map((e, i) => rows.subarray(i === 0 ? 0 : ends[i - 1]!, e));
    t.equal(Buffer.concat(parts).toString('hex'), rows.toString('hex'), `max ${max}: nothing lost or reordered`);
    let count = 0;
    for (const p of parts) {
      const r = decodeMetricRows(p); // throws unless whole rows
      count += r.length;
      if (r.length > 1) t.ok(p.length <= max, `max ${max}: a multi-row packet fits`);
    }
    t.equal(count, 40);
    if (max === 1) t.equal(n, 40, 'one row per packet when every row is larger than the cap');
    if (max >= rows.length) t.equal(n, 1);
  }
  t.equal(splitRows(Buffer.alloc(0), 100, ends), 0);
  t.throws(() => splitRows(rows.subarray(0, rows.length - 1), 1000, ends), MetricRowFormatError);
  t.throws(() => splitRows(Buffer.from([0x80]), 1000, ends), MetricRowFormatError);
});

t.test('SocketReader: exact reads across chunks, deadline, close', async (t) => {
  let server!: net.Socket;
  const { client, reader } = await pair(t, (s) => (server = s));
  await tick();
  server.write('ab');
  await tick();
  server.write('cdef');
  t.equal((await reader.read(3, 1000)).toString(), 'abc');
  t.equal((await reader.read(1, 1000)).toString(), 'd');
  t.equal((await reader.read(2, 1000)).toString(), 'ef');
  const p = reader.read(1, 0);
  await t.rejects(reader.read(1), /already pending/);
  server.write('g');
  t.equal((await p).toString(), 'g');
  server.write('h');
  server.end();
  await tick();
  t.equal((await reader.read(1)).toString(), 'h', 'data before the close is still readable');
  await t.rejects(reader.read(1, 1000), { name: 'VmstorageConnError', reason: 'network' });
  t.ok(reader.closed);

  const other = await pair(t, () => {});
  await t.rejects(other.reader.read(1, 50), { name: 'VmstorageConnError', reason: 'timeout' });
  await tick();
  t.ok(other.client.destroyed, 'a timed-out read destroys the socket');
  t.ok(client);
});
