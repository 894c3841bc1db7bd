// The benchmark harness end to end, tiny: `steady` and `outage` run as `npm run bench` would
// (a child process), and each leaves a Markdown + JSON report with its charts, the figures
// the README promises, and no acknowledged sample lost. Sizes are a few seconds each; the
// figures themselves are never judged (this box is shared and noisy).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const VMAGENT = existsSync(path.join(ROOT, '.peers', 'bin', 'vmagent'));
const TINY = ['--hosts', '6', '--series-per-host', '300', '--connections', '4', '--max-seconds', '60'];

/** Our environment without the test runner's (tap's loader in NODE_OPTIONS, TAP_* settings). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'NODE_OPTIONS' || k === 'TAP' || k.startsWith('TAP_') || k.startsWith('_TAPJS_')) continue;
    env[k] = v;
  }
  return env;
}

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'run.ts'), ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (out += b.toString('utf8')));
    // The harness bounds itself (--max-seconds); this is the last resort, and SIGTERM lets it clean up.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

interface ReportJson {
  scenario: string;
  verdict: { ok: boolean; lostSamples: number; problems: string[] };
  fleet: { series: number; meanSeriesBytes: number };
  targets: Record<
    string,
    {
      acceptedSamplesPerSec: number;
      deliveredSamplesPerSec: number;
      cpuSecondsPerMillionSamples: number;
      peakRssBytes: number;
      latencyMs: { p50: number; p90: number; p99: number; p999: number };
      spoolBytesPerSample: number | null;
      loss: { lost: number; acked: number } | null;
      duplicates: number;
      outOfOrder: number;
    }
  >;
  details: Record<string, unknown>;
  timeline: unknown[];
}

function readReport(t: Test, out: string, scenario: string): ReportJson {
  const dirs = readdirSync(out).filter((d) => d.startsWith(`${scenario}-`));
  t.equal(dirs.length, 1, `one ${scenario} report directory`);
  const dir = path.join(out, dirs[0]!);
  for (const f of ['report.md', 'report.json', 'throughput.svg', 'latency.svg']) t.ok(existsSync(path.join(dir, f)), `${f} written`);
  const svg = readFileSync(path.join(dir, 'throughput.svg'), 'utf8');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, 'a standalone SVG');
  t.notMatch(svg, /<script|href="http/, 'no scripts or external assets');
  const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
  t.match(md, /## Key figures/);
  return JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8')) as ReportJson;
}

function checkTarget(t: Test, r: ReportJson, name: string): void {
  const x = r.targets[name];
  if (!t.ok(x, `${name} figures present`)) return;
  t.ok(x!.acceptedSamplesPerSec > 0, `${name}: samples/s accepted`);
  t.ok(x!.deliveredSamplesPerSec > 0, `${name}: samples/s delivered`);
  t.ok(x!.cpuSecondsPerMillionSamples > 0, `${name}: CPU-seconds per million samples`);
  t.ok(x!.peakRssBytes > 0, `${name}: peak RSS`);
  t.ok(x!.latencyMs.p99 >= x!.latencyMs.p50 && x!.latencyMs.p999 >= x!.latencyMs.p99, `${name}: latency percentiles`);
  t.ok(x!.loss && x!.loss.acked > 0, `${name}: acknowledged samples checked at the sink`);
  t.equal(x!.loss?.lost, 0, `${name}: no acknowledged sample lost`);
  t.type(x!.duplicates, 'number');
  t.type(x!.outOfOrder, 'number');
}

t.test('bench steady: report with Spillway (and vmagent when installed), nothing lost', { timeout: 90_000 }, async (t) => {
  const out = t.testdir();
  const res = await runBench(['steady', ...TINY, '--warmup', '0.5', '--rounds', '1', '--duration', '2', '--out', out], 80_000);
  t.equal(res.code, 0, 'exit 0', { output: res.out.slice(-3000) });
  const r = readReport(t, out, 'steady');
  t.equal(r.verdict.ok, true);
  t.equal(r.verdict.lostSamples, 0);
  t.ok(r.fleet.series >= 6 * 300 && r.fleet.meanSeriesBytes > 100, 'fleet described');
  checkTarget(t, r, 'spillway');
  t.ok(r.targets['spillway']!.spoolBytesPerSample! > 0, 'spool bytes per sample');
  if (VMAGENT) checkTarget(t, r, 'vmagent');
  else t.match(readFileSync(path.join(out, readdirSync(out)[0]!, 'report.md'), 'utf8'), /vmagent is not installed/, 'the report says vmagent is missing');
  t.ok(r.timeline.length > 0, 'timeline recorded');
});

t.test('bench outage: backlog, catch-up and spool bytes per sample, nothing lost', { timeout: 90_000 }, async (t) => {
  const out = t.testdir();
  const res = await runBench(['outage', ...TINY, '--warmup', '0', '--duration', '1.5', '--outage', '2', '--rate', '20000', '--out', out], 80_000);
  t.equal(res.code, 0, 'exit 0', { output: res.out.slice(-3000) });
  const r = readReport(t, out, 'outage');
  t.equal(r.verdict.ok, true);
  checkTarget(t, r, 'spillway');
  const o = r.details['outage'] as { backlogSamples: number; spoolBytesPerSample: number | null; catchUpSeconds: number | null };
  t.ok(o.backlogSamples > 0, 'the failed node had a backlog');
  t.ok((o.spoolBytesPerSample ?? 0) > 0, 'spool bytes per sample');
  t.type(o.catchUpSeconds, 'number', 'caught up');
  t.ok(existsSync(path.join(out, readdirSync(out)[0]!, 'backlog.svg')), 'backlog chart');
});
