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
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';
import { Sink } from '../helpers/sink.js';

const opts: SenderOptions = { sendTimeoutMs: 500, retryMinIntervalMs: 10, retryMaxIntervalMs: 50, replayMaxSamplesPerSecond: 0 };
const log = pino({ level: 'silent' });

/** Record i: one series labelled i=<i>, snappy-compressed as the spool holds it. */
function rec(i: number, tenant = [0, 0]) {
  const data = snappyCompress(encodeWriteRequest([{ labels: [['__name__', 'm'], ['i', String(i)]], samples: [[i, 1000 + i]] }]));
  return { kind: RecordKind.PrwSnappy, accountID: tenant[0]!, projectID: tenant[1]!, series: 1, samples: 1, minTs: i, maxTs: i, data };
}

const decoder = new PrwDecoder({ maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 });
/** The record numbers in a request body, in order. */
function ids(body: Buffer): number[] {
  const v = decoder.decode(snappyUncompress(body, 1 << 24));
  return Array.from({ length: v.seriesCount }, (_, k) => Number(seriesToObject(v, k).labels[1]![1]));
}
const delivered = (sink: Sink) => sink.received.flatMap((r) => ids(r.body));

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
  await until(() => delivered(sink).length === 5);
  t.same(delivered(sink), [0, 1, 2, 3, 4]);
  t.ok(sink.received.length < 5, `records waiting together go in fewer requests (${sink.received.length})`);
  const h = sink.received[0]!.headers;
  t.equal(h['content-encoding'], 'snappy');
  t.equal(h['content-type'], 'application/x-protobuf');
  t.equal(h['x-prometheus-remote-write-version'], '0.1.0');
  await until(() => spool.readOffset === spool.writeOffset);
  const boundaries = new Set(spool.records.map((r) => r.nextOffset));
  t.ok(spool.commits.every((c) => boundaries.has(c)), 'commits only at record boundaries');
  t.same([...spool.commits].sort((a, b) => a - b), spool.commits, 'in order');
  // New data after idling is picked up.
  await spool.append(rec(5));
  await until(() => delivered(sink).length === 6);
});

t.test('5xx, 429, resets and stalls are retried; nothing is skipped', async (t) => {
  const { sink, spool, sender, metrics } = await setup(t);
  sink.script.push({ status: 503 }, { status: 429, headers: { 'retry-after': '0' } }, 'reset', 'stall', { status: 500 });
  await spool.append(rec(0));
  await spool.append(rec(1));
  sender.start();
  await until(() => delivered(sink).length === 2, 8000);
  t.same(delivered(sink), [0, 1]);
  t.ok(sink.attempts >= 6, `every failure retried (${sink.attempts} attempts)`);
  await until(() => spool.readOffset === spool.writeOffset);
  t.equal(spool.commits.at(-1), spool.writeOffset, 'committed once acknowledged');
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
  // The node refuses anything holding record 0, alone or sent together with others.
  sink.decide = (body) => (ids(body).includes(0) ? { status: 400, body: 'cannot parse' } : undefined);
  await spool.append(rec(0));
  await spool.append(rec(1));
  await spool.append(rec(2));
  sender.start();
  await until(() => delivered(sink).length === 2);
  t.same(delivered(sink), [1, 2], 'the others get through');
  await until(() => spool.readOffset === spool.writeOffset);
  t.equal((await metrics.nodeRejectedRecords.get()).values[0]!.value, 1);
  const dead = readFileSync(path.join(dir, 'n0.bin'));
  t.match(dead.toString(), /"status":400/);
  t.match(dead.toString(), /cannot parse/);
  t.equal((dead.toString().match(/"status":400/g) ?? []).length, 1, 'only record 0 set aside');
  t.equal(sender.snapshot().rejectedRecords, 1);
});

t.test('the {tenant} placeholder carries the tenant to the node', async (t) => {
  const { sink, spool, sender } = await setup(t, '/insert/{tenant}/prometheus/api/v1/write');
  await spool.append(rec(0, [7, 3]));
  await spool.append(rec(1));
  sender.start();
  await until(() => delivered(sink).length === 2);
  t.same(sink.received.map((r) => r.path), ['/insert/7:3/prometheus/api/v1/write', '/insert/0:0/prometheus/api/v1/write'], 'tenants never share a request');
});

t.test('a down node shows as down, then up after it returns', async (t) => {
  const { sink, spool, sender } = await setup(t);
  for (let i = 0; i < 3; i++) sink.script.push({ status: 502 });
  await spool.append(rec(0));
  sender.start();
  await until(() => sender.snapshot().state === 'down');
  t.match(sender.snapshot().lastError, /HTTP 502/);
  await until(() => delivered(sink).length === 1);
  t.not(sender.snapshot().state, 'down');
  t.equal(sender.snapshot().lastError, '');
});

t.test('a node that refused connections is probed during a long backoff: delivery resumes within seconds of its return', async (t) => {
  // Take a free port, then leave nothing listening on it.
  const probe = await new Sink().start();
  const port = Number(new URL(probe.url).port);
  await probe.stop();
  const spool = new MemorySpool('n0');
  const dir = mkdtempSync(path.join(tmpdir(), 'spw-dl-'));
  const sender = new RemoteWriteSender('n0', `http://127.0.0.1:${port}/api/v1/write`, spool, { ...opts, retryMinIntervalMs: 30_000, retryMaxIntervalMs: 60_000 }, new Metrics(), log, new DeadLetterFile(path.join(dir, 'n0.bin')));
  let sink: Sink | undefined;
  t.teardown(async () => {
    await sender.stop();
    await sink?.stop();
  });
  await spool.append(rec(0));
  sender.start();
  await until(() => sender.snapshot().state === 'down');
  t.match(sender.snapshot().lastError, /ECONNREFUSED/);
  await new Promise((r) => setTimeout(r, 500));
  sink = await new Sink().start(port);
  const back = performance.now();
  await until(() => delivered(sink!).length === 1, 10_000);
  const ms = performance.now() - back;
  t.ok(ms < 10_000, `delivered ${ms.toFixed(0)} ms after the node returned, inside a 30 s backoff`);
  t.equal(sender.snapshot().state, 'up');
});

t.test('several records in flight: the checkpoint still moves strictly in order', async (t) => {
  const { sink, spool, sender } = await setup(t, '/api/v1/write', { maxInflightPerNode: 3 });
  // The first request (with record 0) fails once; requests sent meanwhile pass.
  sink.script.push({ status: 503 });
  sender.start();
  // Appended one by one while the sender runs, so several requests are in flight at once.
  for (let i = 0; i < 6; i++) {
    await spool.append(rec(i));
    await new Promise((r) => setTimeout(r, 5));
  }
  await until(() => delivered(sink).length === 6);
  await until(() => spool.readOffset === spool.writeOffset);
  const commits = spool.commits;
  t.same([...commits].sort((a, b) => a - b), commits, 'the checkpoint only moves forward');
  t.equal(commits.at(-1), spool.writeOffset);
  t.ok(delivered(sink).indexOf(0) > 0, `record 0 (retried) arrived after others (${delivered(sink)})`);
  t.ok(commits.every((c) => c >= spool.records[0]!.nextOffset), 'nothing committed before record 0 was acknowledged');
});

t.test('-remoteWrite.protocol=2 sends 2.0, and falls back to 1.0 for good on a 415', async (t) => {
  const { sink, spool, sender } = await setup(t, '/api/v1/write', { protocol: 2 });
  // A node that does not take 2.0.
  let type = '';
  let v2Posts = 0;
  sink.onHeaders = (h) => (type = String(h['content-type'] ?? ''));
  sink.decide = () => (type.includes('write.v2') ? (v2Posts++, { status: 415 }) : undefined);
  await spool.append(rec(0));
  sender.start();
  await until(() => delivered(sink).length === 1);
  t.equal(v2Posts, 1, 'the first request was remote-write 2.0 and got 415');
  t.equal(sink.received[0]!.headers['content-type'], 'application/x-protobuf', 'the same record then went as 1.0');
  t.equal(sender.snapshot().protocol, 1);
  await spool.append(rec(1));
  await until(() => delivered(sink).length === 2);
  t.equal(v2Posts, 1, 'and 1.0 from then on');
});

t.test('-remoteWrite.protocol=2 to a node that takes it', async (t) => {
  const { sink, spool, sender } = await setup(t, '/api/v1/write', { protocol: 2 });
  await spool.append(rec(7));
  sender.start();
  await until(() => sink.received.length === 1);
  const r = sink.received[0]!;
  t.equal(r.headers['content-type'], 'application/x-protobuf;proto=io.prometheus.write.v2.Request');
  t.equal(r.headers['x-prometheus-remote-write-version'], '2.0.0');
  const body = snappyUncompress(r.body, 1 << 20);
  t.ok(body.includes(Buffer.from('m')) && body.includes(Buffer.from('7')), 'the 2.0 body carries the series');
  t.equal(sender.snapshot().protocol, 2);
});
