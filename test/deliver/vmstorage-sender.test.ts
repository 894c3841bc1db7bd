import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { DeadLetterFile } from '../../src/deliver/dead-letter.js';
import { dialAddress, VmstorageSender, type VmstorageTuning } from '../../src/deliver/vmstorage-sender.js';
import { Metrics } from '../../src/observe/metrics.js';
import type { SeriesInput } from '../../src/protocol/prw/encode.js';
import { decodeMetricRows, type DecodedMetricRow } from '../../src/protocol/vmstorage/metric-row.js';
import { RecordKind, type AppendInput } from '../../src/spool/types.js';
import { FakeVmstorage } from '../helpers/fake-vmstorage.js';
import { MemorySpool } from '../helpers/memory-spool.js';
import { numbered, REQ2, rowsOf, UP, vector } from '../protocol/vmstorage/vectors.js';

const opts = { sendTimeoutMs: 500, retryMinIntervalMs: 10, retryMaxIntervalMs: 50, replayMaxSamplesPerSecond: 0 };
const fast: VmstorageTuning = { probeIntervalMs: 100, packetTimeoutFloorMs: 300, dialTimeoutMs: 500, handshakeTimeoutMs: 500 };
const log = pino({ level: 'silent' });

/** Record i: `rows` series named r<i>, one sample each at ts = i*1000 + j. */
function rec(i: number, rows = 3, tenant: readonly [number, number] = [0, 0]): AppendInput {
  const series: SeriesInput[] = Array.from({ length: rows }, (_, j) => ({
    labels: [
      ['__name__', `r${i}`],
      ['j', String(j)],
    ],
    samples: [[j, i * 1000 + j]],
  }));
  return recOf(series, tenant);
}

function recOf(series: SeriesInput[], tenant: readonly [number, number] = [0, 0], pick = series.map((_, i) => i)): AppendInput {
  const data = rowsOf(series, pick, tenant);
  const samples = pick.reduce((a, i) => a + series[i]!.samples.length, 0);
  return { kind: RecordKind.VmstorageRows, accountID: tenant[0], projectID: tenant[1], series: pick.length, samples, minTs: 0, maxTs: 0, data };
}

const rowKey = (r: DecodedMetricRow) => `${r.metricNameRaw.toString('hex')}@${r.timestamp}`;

/**
 * A MemorySpool that checks, at every commit, that the node already acked every row of the
 * records being committed: a record must never be committed before its acks.
 */
class CheckingSpool extends MemorySpool {
  readonly violations: string[] = [];
  constructor(private readonly fake: FakeVmstorage) {
    super('n0');
  }
  override async commit(nextOffset: number): Promise<void> {
    const stored = new Set(this.fake.stored.map(rowKey));
    for (const r of this.records) {
      if (r.offset < this.readOffset || r.nextOffset > nextOffset || r.kind !== RecordKind.VmstorageRows) continue;
      let rows: DecodedMetricRow[];
      try {
        rows = decodeMetricRows(r.data);
      } catch {
        continue; // malformed on purpose: set aside, never sent
      }
      for (const row of rows) if (!stored.has(rowKey(row))) this.violations.push(`record at ${r.offset} committed before row ${rowKey(row)} was acked`);
    }
    return super.commit(nextOffset);
  }
}

async function until(cond: () => boolean, ms = 4000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup(t: Test, tuning: VmstorageTuning = fast) {
  const fake = await new FakeVmstorage().start();
  const spool = new CheckingSpool(fake);
  const metrics = new Metrics();
  const dir = mkdtempSync(path.join(tmpdir(), 'spw-vms-'));
  const sender = new VmstorageSender('vmstorage-0', fake.addr, spool, opts, metrics, log, new DeadLetterFile(path.join(dir, 'n0.bin')), tuning);
  t.teardown(async () => {
    await sender.stop();
    await fake.stop();
  });
  return { fake, spool, metrics, sender, dir };
}

async function counter(c: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string> = {}): Promise<number> {
  const v = (await c.get()).values.filter((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v.reduce((a, x) => a + x.value, 0);
}

const delivered = (spool: MemorySpool) => spool.readOffset === spool.writeOffset && spool.records.length > 0;
const allRows = (spool: MemorySpool) => spool.records.flatMap((r) => decodeMetricRows(r.data).map(rowKey));

/** Every row of every record stored at least once, and first seen in spool order. */
function checkAtLeastOnceInOrder(t: Test, spool: MemorySpool, fake: FakeVmstorage) {
  const want = allRows(spool);
  const got = fake.stored.map(rowKey);
  const firstSeen = [...new Set(got)];
  t.same(firstSeen, want, 'every row stored, in spool order (first appearances)');
}

t.test('dialAddress appends :8400 for dialing only', async (t) => {
  t.same(dialAddress('vmstorage-1'), { host: 'vmstorage-1', port: 8400 });
  t.same(dialAddress('10.0.0.1:18400'), { host: '10.0.0.1', port: 18400 });
  t.same(dialAddress('[::1]:8401'), { host: '::1', port: 8401 });
  t.same(dialAddress('[::1]'), { host: '::1', port: 8400 });
  t.same(dialAddress('fe80::1'), { host: 'fe80::1', port: 8400 });
  t.throws(() => dialAddress('host:0'));
  t.throws(() => dialAddress('host:x'));
});

t.test('in order over one connection, each record committed after its ack; bytes match vector 01', async (t) => {
  const { fake, spool, sender, metrics } = await setup(t);
  // The two requests of capture 01, then more records.
  await spool.append(recOf([UP]));
  await spool.append(recOf(REQ2, [3, 4]));
  for (let i = 0; i < 4; i++) await spool.append(rec(i));
  sender.start();
  await until(() => delivered(spool));
  t.same(fake.stored.map(rowKey), allRows(spool), 'exactly once, in order');
  t.same(spool.commits, spool.records.map((r) => r.nextOffset));
  t.same(spool.violations, []);
  t.equal(fake.connections, 1);
  t.same(fake.clientFlags, [0], 'uncompressed');
  // The client side of capture 01 is exactly our handshake and its two packets.
  const c2s = vector('01-plain-c2s.bin');
  t.equal(fake.received(1).subarray(0, c2s.length).toString('hex'), c2s.toString('hex'), 'wire bytes equal 01-plain-c2s.bin');
  t.equal(sender.snapshot().state, 'up');
  t.equal(sender.snapshot().sentRecords, 6);
  t.equal(await counter(metrics.nodeSentRecords), 6);
  t.equal(await counter(metrics.nodeSentSamples), spool.records.reduce((a, r) => a + r.samples, 0));
  t.equal(await counter(metrics.nodeSentBytes), spool.records.reduce((a, r) => a + r.data.length + 8, 0));
  t.equal(await counter(metrics.nodeSendFailures), 0);
  // New data after idling goes over the same connection.
  await spool.append(rec(9));
  await until(() => delivered(spool));
  t.equal(fake.connections, 1);
});

t.test('a large record goes out as several packets cut at row boundaries', async (t) => {
  const { fake, spool, sender } = await setup(t, { ...fast, maxPacketBytes: 300 });
  await spool.append(rec(0, 30));
  await spool.append(rec(1, 2));
  sender.start();
  await until(() => delivered(spool));
  const packets = fake.storedPackets;
  t.ok(packets.length > 5, `${packets.length} packets`);
  t.ok(packets.every((p) => p.payload.length <= 300));
  t.equal(Buffer.concat(packets.map((p) => p.payload)).toString('hex'), Buffer.concat(spool.records.map((r) => r.data)).toString('hex'));
  t.equal(spool.commits.length, 2);
  t.same(spool.violations, []);
});

t.test('read-only: the record is kept, empty probes every interval, resent on recovery', async (t) => {
  const { fake, spool, sender, metrics } = await setup(t);
  fake.readOnly = true;
  await spool.append(rec(0));
  await spool.append(rec(1));
  sender.start();
  await until(() => sender.snapshot().state === 'read-only');
  await until(() => fake.packets.filter((p) => p.payload.length === 0).length >= 3);
  t.same(spool.commits, [], 'nothing committed while read-only');
  t.equal(fake.stored.length, 0);
  const data = fake.packets.filter((p) => p.payload.length > 0);
  t.equal(data.length, 1, 'the data packet is not resent while the node is read-only');
  const probes = fake.packets.filter((p) => p.payload.length === 0);
  t.ok(probes.every((p) => p.ack === 2));
  for (let i = 1; i < probes.length; i++) t.ok(probes[i]!.at - probes[i - 1]!.at >= 90, 'probes are an interval apart');
  t.equal(fake.connections, 1, 'the connection stays up');
  t.match(sender.snapshot().lastError, /read-only/);
  // Capture 06 (node0): a refused data packet then empty probes, same bytes.
  {
    const ro = numbered('ro_test', 8);
    const fake2 = await new FakeVmstorage().start();
    fake2.readOnly = true;
    const spool2 = new MemorySpool('ro');
    const s2 = new VmstorageSender('ro', fake2.addr, spool2, opts, new Metrics(), log, new DeadLetterFile(path.join(mkdtempSync(path.join(tmpdir(), 'spw-vms-')), 'x.bin')), fast);
    await spool2.append(recOf(ro, [0, 0], [1, 3, 5]));
    s2.start();
    await fake2.until(() => fake2.packets.length >= 3);
    const c2s = vector('06-readonly-node0-c2s.bin');
    t.equal(fake2.received(1).subarray(0, c2s.length).toString('hex'), c2s.toString('hex'), 'wire bytes equal 06-readonly-node0-c2s.bin');
    await s2.stop();
    await fake2.stop();
  }

  fake.readOnly = false;
  await until(() => delivered(spool));
  t.same(fake.stored.map(rowKey), allRows(spool), 'each row stored once, in order');
  t.same(spool.violations, []);
  t.equal(sender.snapshot().state, 'up');
  t.equal(sender.snapshot().lastError, '');
  t.equal(await counter(metrics.nodeSendFailures, { reason: 'read_only' }), 1);
  t.equal(await counter(metrics.nodeRetries), 1);
});

t.test('read-only in the middle of a multi-packet record resumes at the refused packet', async (t) => {
  const { fake, spool, sender } = await setup(t, { ...fast, maxPacketBytes: 200 });
  await spool.append(rec(0, 12));
  sender.start();
  await fake.until(() => fake.storedPackets.length >= 2);
  fake.readOnly = true;
  await until(() => sender.snapshot().state === 'read-only');
  t.same(spool.commits, []);
  fake.readOnly = false;
  await until(() => delivered(spool));
  t.same(fake.stored.map(rowKey), allRows(spool), 'no row lost, none duplicated');
  t.same(spool.violations, []);
});

t.test('connection reset mid-packet: reconnect, resend, nothing lost', async (t) => {
  const { fake, spool, sender, metrics } = await setup(t);
  fake.dropMidPacket = 1;
  for (let i = 0; i < 3; i++) await spool.append(rec(i));
  sender.start();
  await until(() => delivered(spool));
  t.same(fake.stored.map(rowKey), allRows(spool));
  t.same(spool.violations, []);
  t.equal(fake.connections, 2);
  t.equal(fake.handshakes, 2);
  t.equal(await counter(metrics.nodeSendFailures, { reason: 'network' }), 1);
  t.equal(await counter(metrics.nodeRetries), 1);
});

t.test('a reset after some packets of a record were acked resends the whole record', async (t) => {
  const { fake, spool, sender } = await setup(t, { ...fast, maxPacketBytes: 200 });
  await spool.append(rec(0, 12));
  await spool.append(rec(1, 2));
  sender.start();
  await fake.until(() => fake.storedPackets.length >= 1);
  fake.dropMidPacket = 1;
  await until(() => delivered(spool));
  checkAtLeastOnceInOrder(t, spool, fake);
  t.ok(fake.stored.length > allRows(spool).length, 'the packets acked before the reset were sent again');
  t.same(spool.violations, []);
  t.same(spool.commits, spool.records.map((r) => r.nextOffset), 'one commit per record');
});

t.test('a stalled node times out; the record is resent on a new connection', async (t) => {
  const { fake, spool, sender, metrics } = await setup(t);
  fake.stall = 1;
  await spool.append(rec(0));
  await spool.append(rec(1));
  sender.start();
  await until(() => delivered(spool));
  t.same(fake.stored.map(rowKey), allRows(spool));
  t.same(spool.violations, []);
  const stalled = fake.packets.filter((p) => p.ack === 0);
  t.equal(stalled.length, 1);
  t.equal(stalled[0]!.payload.toString('hex'), spool.records[0]!.data.toString('hex'));
  t.equal(await counter(metrics.nodeSendFailures, { reason: 'timeout' }), 1);
  t.equal(fake.connections, 2);
});

t.test('a node that refuses connections shows down, keeps its queue, catches up when back', async (t) => {
  const { fake, spool, sender, metrics } = await setup(t);
  await fake.down();
  await spool.append(rec(0));
  sender.start();
  await until(() => sender.snapshot().state === 'down');
  await until(() => sender.snapshot().failedAttempts >= 3);
  t.match(sender.snapshot().lastError, /ECONNREFUSED/);
  t.same(spool.commits, []);
  await spool.append(rec(1));
  await fake.up();
  await until(() => delivered(spool));
  t.same(fake.stored.map(rowKey), allRows(spool));
  t.equal(sender.snapshot().state, 'up');
  t.ok((await counter(metrics.nodeSendFailures, { reason: 'network' })) >= 3);
});

t.test('a vmstorage that refused connections is probed during a long backoff: delivery resumes within seconds of its return', async (t) => {
  const fake = await new FakeVmstorage().start();
  const spool = new CheckingSpool(fake);
  const dir = mkdtempSync(path.join(tmpdir(), 'spw-vms-'));
  const sender = new VmstorageSender('vmstorage-0', fake.addr, spool, { ...opts, retryMinIntervalMs: 30_000, retryMaxIntervalMs: 60_000 }, new Metrics(), log, new DeadLetterFile(path.join(dir, 'n0.bin')), fast);
  t.teardown(async () => {
    await sender.stop();
    await fake.stop();
  });
  await fake.down();
  await spool.append(rec(0));
  sender.start();
  await until(() => sender.snapshot().state === 'down');
  await new Promise((r) => setTimeout(r, 300));
  await fake.up();
  const back = performance.now();
  await until(() => delivered(spool), 10_000);
  const ms = performance.now() - back;
  t.ok(ms < 10_000, `delivered ${ms.toFixed(0)} ms after vmstorage returned, inside a 30 s backoff`);
  t.equal(sender.snapshot().state, 'up');
});

t.test('a server that is not vmstorage is a protocol failure, retried with backoff', async (t) => {
  const { fake, spool, sender, metrics } = await setup(t);
  const realPort = fake.port;
  await fake.down();
  const net = await import('node:net');
  // Something else on the port: answers the hello with garbage.
  const impostor = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')));
  await new Promise<void>((r) => impostor.listen(realPort, '127.0.0.1', r));
  await spool.append(rec(0));
  sender.start();
  await until(() => sender.snapshot().failedAttempts >= 2);
  t.match(sender.snapshot().lastError, /protocol error/);
  t.ok((await counter(metrics.nodeSendFailures, { reason: 'protocol' })) >= 2);
  await new Promise((r) => impostor.close(r));
  await fake.up();
  await until(() => delivered(spool));
});

t.test('records that are not vmstorage rows, or not whole rows, are set aside', async (t) => {
  const { fake, spool, sender, metrics, dir } = await setup(t);
  await spool.append({ ...rec(0), kind: RecordKind.PrwSnappy, data: Buffer.from('snappy-body') });
  const good = rec(1);
  await spool.append({ ...good, data: good.data.subarray(0, good.data.length - 3) });
  await spool.append(rec(2));
  sender.start();
  await until(() => spool.commits.length === 3);
  t.same(fake.stored.map(rowKey), decodeMetricRows(spool.records[2]!.data).map(rowKey), 'only the good record went out');
  t.equal(sender.snapshot().rejectedRecords, 2);
  t.equal(await counter(metrics.nodeRejectedRecords), 2);
  const dead = readFileSync(path.join(dir, 'n0.bin')).toString('latin1');
  t.match(dead, /record kind 1 is not vmstorage rows/);
  t.match(dead, /snappy-body/);
  t.match(dead, /not well-formed MetricRows/);
});

t.test('stop() during a stall returns promptly and commits nothing', async (t) => {
  const { fake, spool, sender } = await setup(t, { ...fast, packetTimeoutFloorMs: 60_000 });
  fake.stall = 1;
  await spool.append(rec(0));
  sender.start();
  await fake.until(() => fake.packets.length === 1);
  const started = Date.now();
  await sender.stop();
  t.ok(Date.now() - started < 1000);
  t.same(spool.commits, []);
});

t.test('a node that is behind gets waiting records joined into full packets, in order', async (t) => {
  const { fake, spool, sender } = await setup(t);
  for (let i = 0; i < 40; i++) await spool.append(rec(i, 2));
  sender.start();
  await until(() => delivered(spool));
  checkAtLeastOnceInOrder(t, spool, fake);
  const dataPackets = fake.packets.filter((p) => p.payload.length > 0).length;
  t.ok(dataPackets < 40, `40 waiting records went in ${dataPackets} packets`);
  t.same(spool.violations, [], 'no record committed before its rows were acknowledged');
});
