// What an operator and a load balancer see through a node outage: the node shows down with a
// growing lag, Spillway stays ready while its spool has room, turns unready when the spool is
// full (writes would get 503), and once the node returns it shows replaying, then up, and
// readiness comes back by itself.

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Sink } from '../helpers/sink.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';

const body = (i: number) =>
  writeRequestBody(
    Array.from({ length: 10 }, (_, k) => ({
      labels: [['__name__', 'state_test'], ['k', String(k)], ['noise', randomBytes(300).toString('base64')]] as [string, string][],
      samples: [{ value: i, timestamp: Date.now() }],
    })),
  );

type Node = { state: string; oldestUnsentAgeSeconds: number; pendingRecords: number; drainEtaSeconds: number | null };
const node = async (url: string): Promise<Node> => JSON.parse((await httpRequest(`${url}/api/v1/status`, { method: 'GET' })).body.toString()).nodes[0];
const ready = async (url: string) => httpRequest(`${url}/-/ready`, { method: 'GET' });

t.test('down, lag, full, replaying, up: status and readiness follow', async (t) => {
  const sink = await new Sink().start();
  t.teardown(() => sink.stop());
  for (let i = 0; i < 10_000; i++) sink.script.push({ status: 503 });
  const sw = await startSpillway([`-remoteWrite.url=${sink.url}/api/v1/write`, '-spool.maxDiskUsagePerNode=64KiB', '-remoteWrite.retryMinInterval=100ms', '-remoteWrite.retryMaxInterval=200ms'], { t });

  t.equal((await postRemoteWrite(sw.writeUrl, body(0))).status, 204);
  await sleep(1200);
  const down = await node(sw.url);
  t.equal(down.state, 'down', 'the failing node shows down');
  t.ok(down.oldestUnsentAgeSeconds >= 1, `with a lag (${down.oldestUnsentAgeSeconds} s)`);
  t.equal((await ready(sw.url)).status, 200, 'a down node does not make Spillway unready');
  await sleep(1000);
  t.ok((await node(sw.url)).oldestUnsentAgeSeconds > down.oldestUnsentAgeSeconds, 'the lag grows');

  let refused = 0;
  for (let i = 1; i < 200 && refused === 0; i++) if ((await postRemoteWrite(sw.writeUrl, body(i))).status === 503) refused++;
  t.equal(refused, 1, 'the spool filled up and a write got 503');
  const r = await ready(sw.url);
  t.equal(r.status, 503, 'not ready while the spool is full');
  t.match(r.body.toString(), /spool full/);

  sink.script.length = 0; // the node is back
  const seen = new Set<string>();
  const end = Date.now() + 20_000;
  for (;;) {
    const n = await node(sw.url);
    seen.add(n.state);
    if (n.pendingRecords === 0) break;
    if (Date.now() > end) throw new Error(`not drained: ${JSON.stringify(n)}`);
    await sleep(20);
  }
  t.ok(seen.has('replaying') || seen.has('up'), `after the outage: ${[...seen].join(' → ')}`);
  t.equal((await ready(sw.url)).status, 200, 'ready again once there is room');
  t.equal((await postRemoteWrite(sw.writeUrl, body(999))).status, 204);
  await sleep(200);
  t.equal((await node(sw.url)).state, 'up');
});
