// The deployment files against a running Spillway: every health path a probe, healthcheck
// or load balancer asks answers 200; every write path a client in the deployments uses
// accepts a real request; every metric the dashboard and the alert rules query is one this
// Spillway exports (scraped after one accepted write).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';
import {
  DEPLOY,
  MAIN_TS,
  PROMTOOL,
  REPO,
  alertRules,
  dashboardQueries,
  errorReasons,
  expandGrafanaVariables,
  exportedMetrics,
  freePort,
  httpRequest,
  labelMatchers,
  loadYaml,
  loadYamlAll,
  parseDockerfile,
  parseDurationMs,
  promqlMetricNames,
  queryableNames,
  startChild,
  waitFor200,
} from './lib.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'spillway-deploy-live-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = startChild(
  process.execPath,
  ['--import', 'tsx', MAIN_TS, `-httpListenAddr=127.0.0.1:${port}`, `-spool.path=${path.join(tmp, 'spool')}`, '-remoteWrite.url=http://127.0.0.1:1/api/v1/write'],
  { cwd: REPO, maxLifetimeMs: 60_000 },
);
t.teardown(() => child.stop(5_000));
await waitFor200(`${base}/-/ready`, child, 30_000);

/** Paths that probes, healthchecks and the load balancer ask, with where each is configured. */
function healthPaths(): Array<{ where: string; path: string }> {
  const out: Array<{ where: string; path: string }> = [];
  const df = parseDockerfile(readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'));
  const hc = df.stages.at(-1)!.find((i) => i.op === 'HEALTHCHECK');
  const m = hc && /https?:\/\/[^/'"\s]+(\/[^'"\s)]*)/.exec(hc.args);
  if (m) out.push({ where: 'Dockerfile HEALTHCHECK', path: m[1]! });
  const cfg = readFileSync(path.join(DEPLOY, 'compose', 'haproxy.cfg'), 'utf8');
  for (const c of cfg.matchAll(/^\s*http-check send .*\buri\s+(\S+)/gm)) out.push({ where: 'haproxy.cfg http-check', path: c[1]! });
  for (const f of ['statefulset.yaml']) {
    for (const o of loadYamlAll(path.join(DEPLOY, 'k8s', 'base', f)) as Array<Record<string, any>>) {
      for (const c of o.spec?.template?.spec?.containers ?? []) {
        for (const p of ['startupProbe', 'livenessProbe', 'readinessProbe']) if (c[p]?.httpGet?.path) out.push({ where: `k8s ${p}`, path: c[p].httpGet.path });
      }
    }
  }
  return out;
}

t.test('every health path the deployments use answers 200 on a running Spillway', async (t) => {
  const paths = healthPaths();
  t.ok(paths.length >= 4, 'Dockerfile, HAProxy and Kubernetes probes found');
  for (const p of paths) {
    const r = await httpRequest(base + p.path);
    t.equal(r.status, 200, `${p.where}: GET ${p.path}`);
  }
  t.equal((await httpRequest(`${base}/-/no-such-path`)).status, 404, 'an unknown path does not answer 200 (the check means something)');
});

/** Write URL paths the clients in the compose files use against the VIP / Spillway. */
function clientWritePaths(): Array<{ where: string; path: string }> {
  const out: Array<{ where: string; path: string }> = [];
  for (const f of ['docker-compose.yml', 'docker-compose.single.yml']) {
    const doc = loadYaml<{ services: Record<string, { command?: string[]; image?: string }> }>(path.join(DEPLOY, 'compose', f));
    const front = Object.entries(doc.services)
      .filter(([, s]) => /haproxy|spillway/.test(s.image ?? ''))
      .map(([n]) => n);
    for (const a of doc.services.vmagent?.command ?? []) {
      const m = /^-remoteWrite\.url=(.*)$/.exec(a);
      if (!m) continue;
      const u = new URL(m[1]!);
      if (front.includes(u.hostname)) out.push({ where: `${f} vmagent`, path: u.pathname + u.search });
    }
  }
  return out;
}

const body = snappyCompress(
  encodeWriteRequest([
    {
      labels: [
        ['__name__', 'deploy_test_up'],
        ['instance', 'pmm-client-1:9100'],
        ['job', 'node'],
      ],
      samples: [[1, Date.now()]],
    },
  ]),
);
const post = (p: string) =>
  httpRequest(base + p, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' },
    body,
  });

t.test('the write paths clients use accept a remote-write request', async (t) => {
  const paths = clientWritePaths();
  t.ok(paths.length >= 2, 'both compose files send through the VIP');
  for (const p of paths) t.equal((await post(p.path)).status, 204, `${p.where}: POST ${p.path}`);
});

// One accepted write before the scrape, so the counters it touches carry samples.
const firstWrite = await post('/api/v1/write');
const metricsText = (await httpRequest(`${base}/metrics`)).body;
const exported = exportedMetrics(metricsText);
const queryable = queryableNames(exported);

t.test('metric names are read from the live exposition', async (t) => {
  t.equal(firstWrite.status, 204, `the write before the scrape was accepted ${firstWrite.body}`);
  t.ok([...exported.keys()].filter((n) => n.startsWith('spillway_')).length >= 10, 'spillway_* metrics');
  t.equal(exported.get('spillway_ingest_request_duration_seconds'), 'histogram', 'histograms are known by type');
  t.match(metricsText, /spillway_ingest_samples_total\{[^}]*\} [1-9]/, 'the accepted write is counted');
  // The extractor itself.
  t.same(
    promqlMetricNames('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x=~"y|z", instance=~"$instance"}[$__rate_interval]))) / on(node) group_left b offset 5m > 1e3'),
    ['a_bucket', 'b'],
    'functions, labels, keywords, durations, numbers and variables are not names',
  );
});

function checkNames(t: Test, where: string, expr: string, allowed: Set<string>) {
  const names = promqlMetricNames(expr);
  t.ok(names.length > 0, `${where}: selects at least one metric`);
  for (const n of names) {
    const ok = queryable.has(n) || allowed.has(n);
    const hint = exported.get(n) === 'histogram' ? ` (a histogram: query ${n}_bucket, _sum or _count)` : '';
    t.ok(ok, `${where}: ${n} is exported by Spillway${ok ? '' : hint}`);
  }
}

t.test('the dashboard queries only metrics Spillway exports', async (t) => {
  const { dashboard, queries } = dashboardQueries();
  t.ok(queries.length >= 20, `${queries.length} queries found`);
  for (const q of queries) checkNames(t, q.where, q.expr, new Set());
  const list = ((dashboard.templating as { list: Array<{ type: string; query?: unknown; name: string }> }).list ?? []);
  const ds = list.find((v) => v.type === 'datasource');
  t.equal(ds?.query, 'prometheus', 'a Prometheus datasource variable');
  const text = JSON.stringify(dashboard);
  const uids = [...text.matchAll(/"uid":\s*"([^"]+)"/g)].map((m) => m[1]).filter((u) => u !== 'spillway' && u !== '-- Grafana --');
  t.same([...new Set(uids)], [`\${${ds?.name}}`], 'every panel and target uses the datasource variable');
  const used = new Set(queries.flatMap((q) => promqlMetricNames(q.expr)));
  for (const need of [
    'spillway_ingest_samples_total',
    'spillway_ingest_rejected_requests_total',
    'spillway_ingest_dropped_series_total',
    'spillway_spool_pending_bytes',
    'spillway_spool_pending_records',
    'spillway_spool_pending_samples',
    'spillway_spool_oldest_age_seconds',
    'spillway_node_up',
    'spillway_node_send_failures_total',
    'spillway_node_sent_samples_total',
    'spillway_spool_fsync_duration_seconds_bucket',
    'spillway_ingest_request_duration_seconds_bucket',
  ]) t.ok(used.has(need), `the dashboard shows ${need}`);
  const ids = (dashboard.panels as Array<{ id: number }>).map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});

t.test('the alert rules query only metrics Spillway exports', async (t) => {
  const rules = alertRules();
  t.ok(rules.length >= 8, `${rules.length} rules`);
  const reasons = errorReasons();
  for (const r of rules) {
    t.ok(r.alert, 'an alerting rule');
    // `up` is written by the scraper for every target, Spillway included.
    checkNames(t, r.alert!, r.expr, new Set(['up']));
    t.match(r.labels?.severity ?? '', /^(critical|warning|info)$/, `${r.alert}: severity`);
    t.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
    if (r.for) t.ok(parseDurationMs(r.for) !== undefined, `${r.alert}: for ${r.for}`);
    for (const m of labelMatchers(r.expr).filter((x) => x.label === 'reason' && r.expr.includes('spillway_ingest_rejected_requests_total'))) {
      for (const v of m.value.split('|')) t.ok(reasons.has(v), `${r.alert}: reason "${v}" is an SPW_ERR_* code Spillway counts`);
    }
  }
});

t.test('PromQL syntax (promtool)', { skip: PROMTOOL ? false : 'promtool not installed (npm run peers installs it)' }, async (t) => {
  const check = (file: string) => spawnSync(PROMTOOL!, ['check', 'rules', file], { encoding: 'utf8', timeout: 20_000 });
  const a = check(path.join(DEPLOY, 'alerts', 'spillway-alerts.yml'));
  t.equal(a.status, 0, `promtool check rules deploy/alerts/spillway-alerts.yml\n${a.stdout}${a.stderr}`);
  const { queries } = dashboardQueries();
  const rules = queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: expandGrafanaVariables(q.expr) }));
  const file = path.join(tmp, 'dashboard-rules.yml');
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
  const d = check(file);
  t.equal(d.status, 0, `every dashboard query parses as PromQL\n${d.stdout}${d.stderr}`);
});

t.test('the metric names the operator guide uses are exported', async (t) => {
  const guide = readFileSync(path.join(REPO, 'docs', 'operator-guide.md'), 'utf8');
  const names = new Set([...guide.matchAll(/\b(spillway_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+)\b/g)].map((m) => m[1]!));
  t.ok(names.size >= 8, `${names.size} names`);
  for (const n of names) t.ok(queryable.has(n) || exported.has(n), `${n}`);
});
