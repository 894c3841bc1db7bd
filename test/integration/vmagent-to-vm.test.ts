// End to end with real peers: PMM-like exporter ← vmagent 1.79.5 (snappy PRW 1.0) →
// Spillway → victoria-metrics. Storage must hold exactly what the exporter served, scrape
// by scrape, with vmagent's job/instance labels.
import t from 'tap';
import { startExporter, type Exporter } from './helpers/exporter.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { compareScrapes, expectedFromScrapes } from './helpers/scrape-compare.js';
import { startSpillway } from './helpers/spillway.js';
import { exportWhenStable, sampleCount, seriesKey, startVictoriaMetrics, type ExportedSeries } from './helpers/victoria-metrics.js';
import { startVmagent } from './helpers/vmagent.js';

const JOB = 'pmm';
const HOSTS = 3;
const SCRAPES_PER_HOST = 5;

/** Wait until every host was scraped at least `n` times (bounded). */
async function waitForScrapes(exporter: Exporter, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const done = () => exporter.hosts.every((h) => exporter.scrapes.filter((s) => s.host === h.name).length >= n);
  while (!done()) {
    if (Date.now() > deadline) {
      const counts = exporter.hosts.map((h) => `${h.name}: ${exporter.scrapes.filter((s) => s.host === h.name).length}`).join(', ');
      throw new Error(`vmagent did not scrape every host ${n} times within ${timeoutMs} ms (${counts})`);
    }
    await sleep(100);
  }
}

/**
 * True once storage holds, for every expected series, as many samples as were served up to
 * the last scrape in `expected` (later samples do not count, so a lost early sample is not
 * hidden by newer ones).
 */
function holdsAllServed(expected: ReturnType<typeof expectedFromScrapes>) {
  let upTo = 0;
  for (const e of expected.values()) upTo = Math.max(upTo, ...e.scrapeTimes);
  return (got: ExportedSeries[]) => {
    const counts = new Map(got.map((g) => [seriesKey(g.metric), g.timestamps.filter((ts) => ts <= upTo).length]));
    for (const [key, e] of expected) if ((counts.get(key) ?? 0) < e.values.length) return false;
    return true;
  };
}

t.test('vmagent → Spillway → victoria-metrics stores exactly the scraped samples', { timeout: 60_000 }, async (t) => {
  const vm = await startVictoriaMetrics({ t });
  const spillway = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`], { t });
  const exporter = await startExporter({ hosts: HOSTS, t });
  const agent = await startVmagent({
    t,
    remoteWriteUrl: spillway.writeUrl,
    scrapeTargets: exporter.targets,
    scrapeInterval: '1s',
    jobName: JOB,
  });

  await waitForScrapes(exporter, SCRAPES_PER_HOST, 15_000);
  // SIGTERM: vmagent stops scraping, flushes what it holds and exits.
  await agent.stop();
  t.equal(agent.proc.exitInfo?.code, 0, `vmagent exits cleanly (${agent.proc.describeExit()})`);
  const scrapes = [...exporter.scrapes];
  t.ok(scrapes.length >= HOSTS * SCRAPES_PER_HOST, `exporter served ${scrapes.length} scrapes`);

  const expected = expectedFromScrapes(scrapes, JOB);
  const got = await exportWhenStable(vm.url, `{job="${JOB}"}`, {
    stableMs: 1_000,
    timeoutMs: 20_000,
    ready: holdsAllServed(expected),
  });
  const problems = compareScrapes(scrapes, got, { job: JOB });
  t.same(problems, [], 'storage holds exactly the series and values the exporter served', {
    spillwayOutput: problems.length ? spillway.output().slice(-4000) : undefined,
  });
  t.equal(
    sampleCount(got.filter((g) => expected.has(seriesKey(g.metric)))),
    [...expected.values()].reduce((n, e) => n + e.values.length, 0),
    'sample count matches the scrape log',
  );
  t.ok(spillway.proc.running, 'Spillway is still running');
});

t.test('Spillway killed with SIGKILL and restarted while vmagent writes: nothing scraped is lost', { timeout: 60_000 }, async (t) => {
  const vm = await startVictoriaMetrics({ t });
  const spillway = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`], { t });
  const exporter = await startExporter({ hosts: 2, t });
  const agent = await startVmagent({
    t,
    remoteWriteUrl: spillway.writeUrl,
    scrapeTargets: exporter.targets,
    scrapeInterval: '1s',
    jobName: JOB,
  });

  await waitForScrapes(exporter, 3, 15_000);
  spillway.kill('SIGKILL');
  await spillway.proc.exited;
  // vmagent keeps scraping into its own queue while Spillway is away.
  await sleep(1_500);
  await spillway.restart();
  // vmagent retries with backoff; let it catch up before the last scrapes, so that stopping
  // it does not leave a retried block in its own disk queue.
  const atRestart = expectedFromScrapes([...exporter.scrapes], JOB);
  await exportWhenStable(vm.url, `{job="${JOB}"}`, { stableMs: 0, timeoutMs: 20_000, ready: holdsAllServed(atRestart) });
  await waitForScrapes(exporter, Math.max(...exporter.hosts.map((h) => exporter.scrapes.filter((s) => s.host === h.name).length)) + 2, 15_000);
  // For the diagnostics: what vmagent sent and still holds, just before it stops.
  const agentQueue = await remoteWriteMetrics(agent.url);
  await agent.stop();
  t.equal(agent.proc.exitInfo?.code, 0, `vmagent exits cleanly (${agent.proc.describeExit()})`);

  const scrapes = [...exporter.scrapes];
  const expected = expectedFromScrapes(scrapes, JOB);
  const got = await exportWhenStable(vm.url, `{job="${JOB}"}`, {
    stableMs: 1_000,
    timeoutMs: 25_000,
    ready: holdsAllServed(expected),
  });
  const problems = compareScrapes(scrapes, got, { job: JOB });
  t.same(problems, [], 'every scrape reached storage exactly once (duplicates folded by -dedup.minScrapeInterval=1ms)', {
    spillwayOutput: problems.length ? spillway.output().slice(-6000) : undefined,
    vmagentOutput: problems.length ? agent.proc.output().slice(-4000) : undefined,
    vmagentQueueBeforeStop: problems.length ? agentQueue : undefined,
    spillwayStatus: problems.length ? (await httpRequest(`${spillway.url}/api/v1/status`).catch((e: Error) => ({ body: Buffer.from(e.message) }))).body.toString('utf8') : undefined,
    vmRowsInserted: problems.length ? await vmRows(vm.url) : undefined,
  });
});

async function vmRows(url: string): Promise<string> {
  const res = await httpRequest(`${url}/metrics`);
  return res.body
    .toString('utf8')
    .split('\n')
    .filter((l) => /^vm_rows_(inserted_total\{type="promremotewrite"|added_to_storage|ignored)/.test(l))
    .join('\n');
}

async function remoteWriteMetrics(url: string): Promise<string> {
  try {
    const res = await httpRequest(`${url}/metrics`);
    return res.body
      .toString('utf8')
      .split('\n')
      .filter((l) => /^vmagent_remotewrite_(requests_total|pending|conns|retries|blocks_sent|send_duration_seconds_total)|^vm_persistentqueue_bytes_pending/.test(l))
      .join('\n');
  } catch (err) {
    return `vmagent metrics unavailable: ${(err as Error).message}`;
  }
}
