// The chaos runner: `npm run chaos` runs every suite at CI size, `npm run chaos -- --long`
// at full size. Each suite prints its summary table; the exit code is non-zero when any
// check failed (a loss, a crash, unbounded growth, a missing protection).
//
//   npm run chaos -- [--long] [--only=crash-loop,bad-input] [--seed=N] [--param name=value ...]
//
// --param overrides one numeric size parameter of the suites that have it (e.g.
// --param cycles=50 --param bodies=200000), for runs between CI and long size.

import { Cleanup, type SuiteOptions } from './lib/common.js';
import { formatResult, formatTable, type SuiteResult } from './lib/report.js';
import { SUITES } from './suites/index.js';

function usage(): never {
  process.stderr.write(`usage: npm run chaos -- [--long] [--only=${Object.keys(SUITES).join(',')}] [--seed=N] [--param name=value ...]\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let long = false;
  let only: string[] = Object.keys(SUITES);
  let seed = Number(process.env.SPILLWAY_CHAOS_SEED ?? Date.now() % 1_000_000);
  const params: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--long') long = true;
    else if (a.startsWith('--only=')) only = a.slice(7).split(',').filter(Boolean);
    else if (a.startsWith('--seed=')) seed = Number(a.slice(7));
    else if (a === '--param' || a.startsWith('--param=')) {
      const kv = a === '--param' ? argv[++i] : a.slice(8);
      const m = /^([\w.]+)=(-?[\d.e+]+)$/.exec(kv ?? '');
      if (!m) usage();
      params[m[1]!] = Number(m[2]);
    } else if (a === '--help' || a === '-h') usage();
    else usage();
  }
  for (const name of only) if (!SUITES[name]) usage();
  const size = long ? 'long' : 'ci';
  process.stderr.write(`chaos: suites ${only.join(', ')}; size ${size}; seed ${seed}${Object.keys(params).length ? `; params ${JSON.stringify(params)}` : ''}\n`);

  const results: SuiteResult[] = [];
  for (const name of only) {
    const cleanup = new Cleanup();
    const opts: SuiteOptions = { size, t: cleanup, seed, params, log: (line) => process.stderr.write(`[${name}] ${line}\n`) };
    let result: SuiteResult;
    try {
      result = await SUITES[name]!(opts);
    } finally {
      await cleanup.run();
    }
    results.push(result);
    process.stdout.write(`\n${formatResult(result)}\n`);
  }
  process.stdout.write(
    `\n## chaos summary (seed ${seed})\n${formatTable(
      ['suite', 'size', 'time', 'failed checks', 'result'],
      results.map((r) => [r.suite.split(':')[0]!, r.size, `${(r.durationMs / 1000).toFixed(1)} s`, r.checks.filter((c) => c.pass === false).length, r.ok ? 'PASS' : 'FAIL']),
    )}\n`,
  );
  return results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
