// The status page as an operator sees it: loaded in a real headless Chromium, its numbers
// must be the ones the JSON status reports.

import t from 'tap';
import { chromium } from 'playwright-core';
import { freePort } from './helpers/ports.js';
import { httpRequest } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';

const CHROMIUM = process.env.SPILLWAY_CHROMIUM ?? '/usr/bin/chromium';

t.test('status page in headless Chromium shows the numbers of /api/v1/status', async (t) => {
  const downPort = await freePort();
  const sw = await startSpillway([`-remoteWrite.url=http://127.0.0.1:${downPort}/api/v1/write`, '-remoteWrite.retryMinInterval=100ms'], { t });
  for (let i = 0; i < 3; i++) {
    const series = Array.from({ length: 10 }, (_, k) => ({ labels: [['__name__', 'page_test'], ['k', String(k)]] as [string, string][], samples: [{ value: k, timestamp: Date.now() }] }));
    t.equal((await postRemoteWrite(sw.writeUrl, writeRequestBody(series))).status, 204);
  }
  t.equal((await postRemoteWrite(sw.writeUrl, Buffer.from('garbage'))).status, 400);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
  const res = await page.goto(`${sw.url}/`);
  t.equal(res?.status(), 200);
  const json = JSON.parse((await httpRequest(`${sw.url}/api/v1/status`, { method: 'GET' })).body.toString());

  const cell = (k: string) => page.locator(`td[data-k="${k}"]`).first().innerText();
  t.equal(await page.locator('#accepted').innerText(), String(json.ingest.acceptedSamples));
  t.equal(json.ingest.acceptedSamples, 30);
  t.equal(await cell('pendingRecords'), String(json.nodes[0].pendingRecords));
  t.equal(await cell('pendingSamples'), String(json.nodes[0].pendingSamples));
  t.equal(json.nodes[0].pendingSamples, 30);
  t.match(await cell('state'), /down|idle/);
  t.match(await page.locator('#rejects').innerText(), /bad_snappy: 1/);
  t.equal(await page.locator('td.node').first().innerText(), json.nodes[0].node);
  t.ok(await page.locator('meta[http-equiv="refresh"]').count(), 'refreshes itself');
  // Readable on a phone: the table scrolls inside its box rather than widening the page.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  t.ok(overflow <= 1, `no page-wide horizontal scroll (${overflow}px)`);
});
