// Spillway's benchmark harness: `npm run bench -- <scenario> [options]` (--help for the list).
// Starts Spillway (and vmagent, and counting sinks) as real processes on loopback, drives a
// PMM-like fleet's remote-write load at them, injects failures, and writes a Markdown + JSON
// report with SVG charts to bench/out/<scenario>-<timestamp>/. Every child process is bounded
// in time and killed on exit or Ctrl-C. Exit status: 0 ok, 1 acknowledged samples lost or a
// process crashed, 2 usage or setup failure, 130 interrupted. Never judged on a fixed number.
import os from 'node:os';
import path from 'node:path';
import { Bench } from './harness/context.js';
import { HELP, parseOptions, UsageError, type Options, type Scenario as ScenarioName } from './harness/options.js';
import { writeReport, type Report } from './report/report.js';
import { capacity } from './scenarios/capacity.js';
import { crash } from './scenarios/crash.js';
import { outage } from './scenarios/outage.js';
import { rebalance } from './scenarios/rebalance.js';
import { steady } from './scenarios/steady.js';
import type { Scenario } from './scenarios/types.js';

const SCENARIOS: Record<ScenarioName, Scenario> = { steady, outage, crash, rebalance, capacity };

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

async function main(): Promise<number> {
  let o: Options | 'help';
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  if (o === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const started = new Date();
  const outDir = path.resolve(o.out, `${o.scenario}-${stamp(started)}`);
  const b = new Bench(o, outDir);
  const loadStart = os.loadavg();

  // A Ctrl-C reaches us twice (the terminal signals the process group, and tsx relays it):
  // only a third signal means "exit now, skip the cleanup".
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals >= 3) process.exit(130);
    if (signals > 1) return;
    b.progress.done();
    process.stderr.write(`\n${sig}: stopping every process this run started\n`);
    void b.abort().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watchdog = setTimeout(() => {
    b.progress.done();
    process.stderr.write(`\nthe run exceeded --max-seconds=${o.maxSeconds}: stopping everything\n`);
    void b.abort().finally(() => process.exit(2));
  }, o.maxSeconds * 1000);
  watchdog.unref();

  let result;
  try {
    result = await SCENARIOS[o.scenario](b);
  } catch (err) {
    b.progress.done();
    process.stderr.write(`bench ${o.scenario}: setup or run failure: ${(err as Error).stack ?? err}\n`);
    for (const s of b.subjects) {
      if (s.target.kind === 'spillway' && 'output' in s.target) {
        process.stderr.write(`--- last output of Spillway:\n${(s.target as { output(): string }).output().split('\n').slice(-30).join('\n')}\n`);
      }
    }
    await b.close().catch(() => undefined);
    return 2;
  }
  b.phase = 'stopping';
  await b.close();

  const finished = new Date();
  const cpus = os.cpus();
  const problems = [...b.problems];
  if (result.lostSamples > 0) problems.unshift(`${result.lostSamples} acknowledged samples were never delivered`);
  for (const t of Object.values(result.targets)) {
    if (t.ackedSamples === 0 && (t.loss?.acked ?? 0) === 0) problems.push(`${t.name} acknowledged no sample at all (setup problem? see its retries: ${JSON.stringify(t.retries)})`);
  }
  const report: Report = {
    scenario: o.scenario,
    title: result.title,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    wallSeconds: (finished.getTime() - started.getTime()) / 1000,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: o,
    machine: {
      cpus: cpus.length,
      model: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
      node: process.versions.node,
      loadavgStart: loadStart,
      loadavgEnd: os.loadavg(),
      pinning: b.cpu,
    },
    fleet: result.fleet,
    targets: result.targets,
    rounds: result.rounds,
    details: result.details,
    sections: result.sections,
    events: b.events,
    bands: b.bands,
    timeline: b.timeline,
    verdict: { ok: problems.length === 0, lostSamples: result.lostSamples, problems },
    notes: b.notes,
  };
  const files = writeReport(outDir, report);
  const rel = (p: string) => path.relative(process.cwd(), p) || p;
  process.stdout.write(`\n${report.verdict.ok ? 'OK' : 'FAILED'}: ${o.scenario}${problems.length ? ` — ${problems.join('; ')}` : ''}\n`);
  for (const t of Object.values(result.targets)) {
    process.stdout.write(
      `  ${t.name.padEnd(9)} accepted ${Math.round(t.acceptedSamplesPerSec).toLocaleString('en-US')}/s, ` +
        `${t.cpuSecondsPerMillionSamples.toFixed(2)} CPU-s per million samples, peak RSS ${(t.peakRssBytes / 2 ** 20).toFixed(0)} MiB, ` +
        `p99 ${t.latencyMs.p99} ms, lost ${t.loss?.lost ?? 'n/a'}\n`,
    );
  }
  process.stdout.write(`report: ${rel(files.markdown)}\n        ${rel(files.json)}\n`);
  return report.verdict.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`);
    process.exit(2);
  },
);
