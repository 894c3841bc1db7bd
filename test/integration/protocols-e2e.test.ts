// Every client protocol, end to end into a real VictoriaMetrics: vmagent 1.93.7's handshake and
// zstd bodies (replayed from captures, since Debian ships an older vmagent), Debian's
// Prometheus in agent mode, and a remote-write 2.0 request built with protobufjs.

import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { snappyCompress } from '../../src/protocol/snappy.js';
import { sharedDir } from '../helpers/shared-dir.js';
import { startExporter } from './helpers/exporter.js';
import { peerPath, REPO_ROOT } from './helpers/peers.js';
import { freePort } from './helpers/ports.js';
import { httpRequest, sleep, startProc, waitForHttp } from './helpers/procs.js';
import { startSpillway } from './helpers/spillway.js';
import { exportSeries, seriesKey, startVictoriaMetrics } from './helpers/victoria-metrics.js';

interface Expected {
  timeseries: { labels: [string, string][]; samples: [number | null, string][] }[];
}

t.test('vmagent 1.93.7 captures: handshake answers 1, zstd bodies arrive intact', async (t) => {
  const vm = await startVictoriaMetrics({ t });
  const sw = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`], { t });
  const dir = path.join(sharedDir, 'captures', 'vmagent-1.93.7');
  const hs = JSON.parse(readFileSync(path.join(dir, 'handshake.json'), 'utf8')) as { path: string; headers: Record<string, string> };
  const answer = await httpRequest(`${sw.url}${hs.path}`, { method: 'POST', headers: hs.headers, body: Buffer.alloc(0) });
  t.equal(answer.status, 200);
  t.equal(answer.body.toString().trim(), '1', 'zstd negotiated');

  const expected = (JSON.parse(readFileSync(path.join(sharedDir, 'captures', 'expected.json'), 'utf8')) as Record<string, Record<string, Expected>>)['vmagent-1.93.7']!;
  const want = new Map<string, Map<number, number>>();
  for (let i = 0; i < 4; i++) {
    const meta = JSON.parse(readFileSync(path.join(dir, `body-${i}.json`), 'utf8')) as { path: string; headers: Record<string, string> };
    const headers = Object.fromEntries(Object.entries(meta.headers).filter(([k]) => !['host', 'content-length'].includes(k.toLowerCase())));
    const res = await httpRequest(`${sw.url}${meta.path}`, { method: 'POST', headers, body: readFileSync(path.join(dir, `body-${i}.bin`)) });
    t.equal(res.status, 204, `body-${i}`);
    for (const ts of expected[`body-${i}.bin`]!.timeseries) {
      const labels = Object.fromEntries(ts.labels.filter(([, v]) => v !== ''));
      const m = want.get(seriesKey(labels)) ?? new Map<number, number>();
      for (const [v, ms] of ts.samples) m.set(Number(ms), v ?? 0);
      want.set(seriesKey(labels), m);
    }
  }
  await waitStored(vm, [...want.values()].reduce((n, m) => n + m.size, 0), '{__name__=~".+"}');
  const got = new Map((await exportSeries(vm.url, '{__name__=~".+"}')).map((s) => [seriesKey(s.metric), s]));
  let missing = 0;
  for (const [key, samples] of want) {
    const s = got.get(key);
    for (const [ms, v] of samples) {
      const i = s?.timestamps.indexOf(ms) ?? -1;
      if (i < 0 || Math.abs(s!.values[i]! - v) > Math.abs(v) * 1e-12) missing++;
    }
  }
  t.equal(missing, 0, `every captured sample stored (${want.size} series)`);
  t.ok(want.size > 40 && got.size >= want.size, `${got.size} series stored for ${want.size} captured`);
});

t.test("Debian's Prometheus in agent mode writes through Spillway into VictoriaMetrics", async (t) => {
  const vm = await startVictoriaMetrics({ t });
  const sw = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`], { t });
  const exporter = await startExporter({ hosts: 2, t });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spw-prom-'));
  const cfg = path.join(dir, 'prometheus.yml');
  writeFileSync(
    cfg,
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pmm\n    static_configs:\n      - targets: [${exporter.targets.map((x) => `'${x}'`).join(', ')}]\nremote_write:\n  - url: ${sw.writeUrl}\n    queue_config:\n      batch_send_deadline: 1s\n`,
  );
  const port = await freePort();
  const prom = startProc({
    name: 'prometheus-agent',
    cmd: peerPath('prometheus'),
    args: ['--enable-feature=agent', `--config.file=${cfg}`, `--storage.agent.path=${path.join(dir, 'wal')}`, `--web.listen-address=127.0.0.1:${port}`],
    cwd: REPO_ROOT,
    maxLifetimeMs: 60_000,
    t,
  });
  await waitForHttp(`http://127.0.0.1:${port}/-/ready`, { proc: prom, timeoutMs: 20_000 });
  const deadline = Date.now() + 25_000;
  let names = new Set<string>();
  while (Date.now() < deadline) {
    await vm.flush();
    names = new Set((await exportSeries(vm.url, '{job="pmm"}')).map((s) => s.metric.__name__!));
    if (exporter.metricNames.every((n) => names.has(n))) break;
    await sleep(500);
  }
  t.same([...names].filter((n) => exporter.metricNames.includes(n)).sort(), [...exporter.metricNames].sort(), 'every scraped metric arrived');
  t.ok(exporter.scrapes.length >= 2, `${exporter.scrapes.length} scrapes`);
});

t.test('a remote-write 2.0 request built with protobufjs arrives, with the Written headers', async (t) => {
  const vm = await startVictoriaMetrics({ t });
  const sw = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`], { t });
  const root = await protobuf.load(path.join(REPO_ROOT, 'proto', 'io', 'prometheus', 'write', 'v2', 'types.proto'));
  const Request = root.lookupType('io.prometheus.write.v2.Request');
  const now = Date.now();
  const symbols = ['', '__name__', 'prw2_test', 'instance', 'db-1:9100', 'city', 'Zürich'];
  const msg = Request.create({
    symbols,
    timeseries: [
      { labelsRefs: [1, 2, 3, 4], samples: [{ value: 1.5, timestamp: now - 2000 }, { value: 2.5, timestamp: now - 1000 }] },
      { labelsRefs: [1, 2, 5, 6], samples: [{ value: 7, timestamp: now - 1000 }] },
    ],
  });
  const body = snappyCompress(Buffer.from(Request.encode(msg).finish()));
  const res = await httpRequest(sw.writeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' },
    body,
  });
  t.equal(res.status, 204);
  t.equal(res.headers['x-prometheus-remote-write-samples-written'], '3');
  t.equal(res.headers['x-prometheus-remote-write-histograms-written'], '0');
  const unknown = await httpRequest(sw.writeUrl, { method: 'POST', headers: { 'content-type': 'application/x-protobuf;proto=io.example.Nope', 'content-encoding': 'snappy' }, body });
  t.equal(unknown.status, 415, 'an unknown message type gets 415');

  await waitStored(vm, 3, '{__name__="prw2_test"}');
  const got = await exportSeries(vm.url, '{__name__="prw2_test"}');
  const byKey = new Map(got.map((s) => [seriesKey(s.metric), s]));
  t.same(byKey.get(seriesKey({ __name__: 'prw2_test', instance: 'db-1:9100' }))?.values, [1.5, 2.5]);
  t.same(byKey.get(seriesKey({ __name__: 'prw2_test', city: 'Zürich' }))?.values, [7]);
});

async function waitStored(vm: Awaited<ReturnType<typeof startVictoriaMetrics>>, samples: number, match: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    await vm.flush();
    const n = (await exportSeries(vm.url, match)).reduce((a, s) => a + s.values.length, 0);
    if (n >= samples) return;
    await sleep(200);
  }
}
