import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { RemoteWriteSender } from '../../src/deliver/remote-write-sender.js';
import type { SenderOptions } from '../../src/config/load.js';
import { DeadLetterFile } from '../../src/deliver/dead-letter.js';
import { Metrics } from '../../src/observe/metrics.js';
import { RecordKind } from '../../src/spool/types.js';
import { MemorySpool } from '../helpers/memory-spool.js';
import { Sink } from '../helpers/sink.js';

const opts: SenderOptions = { sendTimeoutMs: 500, retryMinIntervalMs: 10, retryMaxIntervalMs: 50, replayMaxSamplesPerSecond: 0 };
const log = pino({ level: 'silent' });

function rec(i: number, tenant = [0, 0]) {
  return { kind: RecordKind.PrwSnappy, accountID: tenant[0]!, projectID: tenant[1]!, series: 1, samples: 10, minTs: i, maxTs: i, data: Buffer.from(`record-${i}`) };
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function setup(t: Test, urlPath = '/api/v1/write', extra: Partial<typeof opts> = {}) {
  const sink = await new Sink().start();
  const spool = new MemorySpool('n0');
  const metrics = new Metrics();
  const dir = mkdtempSync(path.join(tmpdir(), 'spw-dl-'));
  const sender = new RemoteWriteSender('n0', sink.url + urlPath, spool, { ...opts, ...extra }, metrics, log, new DeadLetterFile(path.join(dir, 'n0.bin')));
  t.teardown(async () => {
    await sender.stop();
    await sink.stop();
  });
  return { sink, spool, metrics, sender, dir };
}

t.test('delivers in order, commits each record after the node acknowledged it', async (t) => {
  const { sink, spool, sender } = await setup(t);
  for (let i = 0; i < 5; i++) await spool.append(rec(i));
  sender.start();
  await until(() => sink.received.length === 5);
  t.same(sink.received.map((r) => r.body.toString()), ['record-0', 'record-1', 'record-2', 'record-3', 'record-4']);
  const h = sink.received[0]!.headers;
  t.equal(h['content-encoding'], 'snappy');
  t.equal(h['content-type'], 'application/x-protobuf');
  t.equal(h['x-prometheus-remote-write-version'], '0.1.0');
  await until(() => spool.readOffset === spool.writeOffset);
  t.same(spool.commits, spool.records.map((r) => r.nextOffset));
  // New data after idling is picked up.
  await spool.append(rec(5));
  await until(() => sink.received.length === 6);
});

t.test('5xx, 429, resets and stalls are retried; nothing is skipped', async (t) => {
  const { sink, spool, sender, metrics } = await setup(t);
  sink.script.push({ status: 503 }, { status: 429, headers: { 'retry-after': '0' } }, 'reset', 'stall', { status: 500 });
  await spool.append(rec(0));
  await spool.append(rec(1));
  sender.start();
  await until(() => sink.received.length === 2, 8000);
  t.same(sink.received.map((r) => r.body.toString()), ['record-0', 'record-1']);
  t.equal(sink.attempts, 7);
  await until(() => spool.commits.length === 2);
  t.same(spool.commits, spool.records.map((r) => r.nextOffset), 'one commit per acknowledged record, in order');
  const failures = (await metrics.nodeSendFailures.get()).values;
  const by = Object.fromEntries(failures.map((v) => [v.labels.reason, v.value]));
  t.equal(by['503'], 1);
  t.equal(by['429'], 1);
  t.equal(by['500'], 1);
  t.equal(by['timeout'], 1, 'the stall is a timeout');
  t.equal(by['network'], 1, 'the reset is a network error');
});

t.test('a permanent 4xx sets the record aside and delivery moves on', async (t) => {
  const { sink, spool, sender, metrics, dir } = await setup(t);
  sink.script.push({ status: 400, body: 'cannot parse' });
  await spool.append(rec(0));
  await spool.append(rec(1));
  sender.start();
  await until(() => sink.received.length === 1);
  t.equal(sink.received[0]!.body.toString(), 'record-1');
  await until(() => spool.commits.length === 2);
  t.equal((await metrics.nodeRejectedRecords.get()).values[0]!.value, 1);
  const dead = readFileSync(path.join(dir, 'n0.bin'));
  t.match(dead.toString(), /"status":400/);
  t.match(dead.toString(), /cannot parse/);
  t.match(dead.toString(), /record-0/);
  t.equal(sender.snapshot().rejectedRecords, 1);
});

t.test('the {tenant} placeholder carries the tenant to the node', async (t) => {
  const { sink, spool, sender } = await setup(t, '/insert/{tenant}/prometheus/api/v1/write');
  await spool.append(rec(0, [7, 3]));
  await spool.append(rec(1));
  sender.start();
  await until(() => sink.received.length === 2);
  t.same(sink.received.map((r) => r.path), ['/insert/7:3/prometheus/api/v1/write', '/insert/0:0/prometheus/api/v1/write']);
});

t.test('a down node shows as down, then up after it returns', async (t) => {
  const { sink, spool, sender } = await setup(t);
  for (let i = 0; i < 3; i++) sink.script.push({ status: 502 });
  await spool.append(rec(0));
  sender.start();
  await until(() => sender.snapshot().state === 'down');
  t.match(sender.snapshot().lastError, /HTTP 502/);
  await until(() => sink.received.length === 1);
  t.not(sender.snapshot().state, 'down');
  t.equal(sender.snapshot().lastError, '');
});

t.test('several records in flight: the checkpoint still moves strictly in order', async (t) => {
  const { sink, spool, sender } = await setup(t, '/api/v1/write', { maxInflightPerNode: 3 });
  sink.script.push({ status: 503 }); // the first attempt (record 0) fails, later ones pass
  for (let i = 0; i < 6; i++) await spool.append(rec(i));
  sender.start();
  await until(() => sink.received.length === 6);
  await until(() => spool.commits.length === 6);
  t.same(spool.commits, spool.records.map((r) => r.nextOffset), 'commits in spool order');
  const firstDelivered = sink.received.findIndex((r) => r.body.toString() === 'record-0');
  t.ok(firstDelivered > 0, `record 0 (retried) arrived after others (position ${firstDelivered}), yet nothing was committed past it early`);
});
