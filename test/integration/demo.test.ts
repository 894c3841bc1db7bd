// Smoke test of `npm run demo`: it starts, prints where to look, stops by itself after
// --duration, and with -replicationFactor=2 over three nodes every series ends up on
// exactly two of them.
import t from 'tap';
import path from 'node:path';
import { peerPath, REPO_ROOT } from './helpers/peers.js';
import { startProc } from './helpers/procs.js';

t.test('npm run demo -- --duration runs, replicates to two of three nodes, and stops by itself', { timeout: 90_000 }, async (t) => {
  peerPath('victoria-metrics');
  peerPath('vmagent');
  const proc = startProc({
    name: 'demo',
    cmd: process.execPath,
    args: ['--import', 'tsx', path.join(REPO_ROOT, 'scripts', 'demo.ts'), '--duration=8', '--scrape-interval=1s', '--hosts=2'],
    cwd: REPO_ROOT,
    maxLifetimeMs: 75_000,
    t,
  });
  const exit = await proc.exited;
  const out = proc.output();
  t.equal(exit.code, 0, `demo exits 0 (${proc.describeExit()})`, { output: exit.code === 0 ? undefined : out.slice(-5000) });

  t.match(out, /Spillway demo/, 'prints the box');
  t.match(out, /\/api\/v1\/status/, 'points at the status page');
  t.match(out, /kill -STOP \d+/, 'prints the kill -STOP command');
  t.match(out, /kill -CONT \d+/, 'prints the kill -CONT command');
  t.equal((out.match(/\/vmui/g) ?? []).length, 3, 'one vmui link per node');

  const line = /^demo: summary (\{.*\})$/m.exec(out);
  t.ok(line, 'prints a summary', { output: line ? undefined : out.slice(-3000) });
  if (!line) return;
  const summary = JSON.parse(line[1]!) as {
    scrapes: number;
    distinctSeries: number;
    replicas: Record<string, number>;
    nodes: Array<{ url: string; series: number; samples: number }>;
  };
  t.ok(summary.scrapes >= 4, `the exporter was scraped (${summary.scrapes} scrapes)`);
  t.equal(summary.nodes.length, 3, 'three nodes');
  for (const n of summary.nodes) t.ok(n.series > 0, `node ${n.url} holds ${n.series} series, ${n.samples} samples`);
  t.ok(summary.distinctSeries > 0, `${summary.distinctSeries} distinct series`);
  const twoEach = { '2': summary.distinctSeries };
  t.same(summary.replicas, twoEach, 'every series is stored on exactly two nodes', {
    demoOutput: JSON.stringify(summary.replicas) === JSON.stringify(twoEach) ? undefined : out.slice(-6000),
  });
});
