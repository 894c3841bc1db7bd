// SIGHUP with a changed -nodesFile: a new node starts receiving its share, a removed node's
// queue (held while it was down) is re-routed through the new ring, and nothing is lost.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { snappyUncompress } from '../../src/protocol/snappy.js';
import { Sink } from '../helpers/sink.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody, type TestSeries } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';

const decoder = new PrwDecoder({ maxLabelsPerTimeseries: 100, maxLabelNameLen: 1000, maxLabelValueLen: 10000 });
const ids = (sink: Sink) =>
  sink.received.flatMap((r) => {
    const view = decoder.decode(snappyUncompress(r.body, 1 << 24));
    return Array.from({ length: view.seriesCount }, (_, i) => Object.fromEntries(seriesToObject(view, i).labels).id!);
  });

function batch(from: number, n: number): TestSeries[] {
  return Array.from({ length: n }, (_, i) => ({
    labels: [['__name__', 'reload_test'], ['id', String(from + i)]] as [string, string][],
    samples: [{ value: from + i, timestamp: Date.now() }],
  }));
}

async function status(url: string) {
  const res = await httpRequest(`${url}/api/v1/status`, { method: 'GET' });
  return JSON.parse(res.body.toString()) as { nodes: { node: string; pendingRecords: number }[] };
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 15_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

t.test('SIGHUP applies a new node list: added node gets data, removed node queue is re-routed', async (t) => {
  const a = await new Sink().start();
  const b = await new Sink().start();
  const c = await new Sink().start();
  t.teardown(() => Promise.all([a.stop(), b.stop(), c.stop()]));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spw-nodes-'));
  const file = path.join(dir, 'nodes.txt');
  const url = (s: Sink) => `${s.url}/api/v1/write`;
  writeFileSync(file, `# storage nodes\n${url(a)}\n${url(b)}\n`);
  const sw = await startSpillway([`-nodesFile=${file}`, '-remoteWrite.retryMinInterval=50ms', '-remoteWrite.retryMaxInterval=200ms'], { t });

  // Node b is failing: its share stays in its queue.
  for (let i = 0; i < 1000; i++) b.script.push({ status: 503 });
  t.equal((await postRemoteWrite(sw.writeUrl, writeRequestBody(batch(0, 200)))).status, 204);
  await until('a to receive its share', () => ids(a).length > 0);
  await until('b to hold a queue', async () => (await status(sw.url)).nodes[1]!.pendingRecords > 0);
  const aFirst = ids(a).length;
  t.ok(aFirst > 0 && aFirst < 200, `a got ${aFirst} of 200, b holds the rest`);

  // Replace b by c.
  writeFileSync(file, `${url(a)}\n${url(c)}\n`);
  sw.kill('SIGHUP');
  await until('the new list', async () => (await status(sw.url)).nodes.map((n) => n.node).join() === [url(a), url(c)].join());
  t.equal((await postRemoteWrite(sw.writeUrl, writeRequestBody(batch(200, 200)))).status, 204);
  await until('every series delivered once to a or c', () => new Set([...ids(a), ...ids(c)]).size === 400);
  const all = [...ids(a), ...ids(c)];
  t.equal(new Set(all).size, 400, 'every series of both batches arrived');
  t.ok(ids(c).length > 0, 'the added node receives data');
  t.equal(b.received.length, 0, 'nothing reached the removed node');
  t.match(sw.output(), /node list applied/);

  // A bad edit changes nothing.
  writeFileSync(file, `${url(a)}\nftp://nope\n`);
  sw.kill('SIGHUP');
  await until('the error to be logged', () => /node list not changed/.test(sw.output()));
  t.same((await status(sw.url)).nodes.map((n) => n.node), [url(a), url(c)]);
});
