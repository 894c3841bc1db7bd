// Runs one chaos suite at CI size inside a tap test: the summary table goes to the log as a
// comment, and every pass/fail row becomes an assertion.

import type { Test } from 'tap';
import { formatResult, type SuiteResult } from './report.js';
import type { SuiteOptions } from './common.js';

export async function runUnderTap(t: Test, suite: (opts: SuiteOptions) => Promise<SuiteResult>): Promise<SuiteResult> {
  const seed = Number(process.env.SPILLWAY_CHAOS_SEED ?? 1);
  const result = await suite({ size: 'ci', t, seed, log: (line) => t.comment(line) });
  t.comment(`seed ${seed} (SPILLWAY_CHAOS_SEED)\n${formatResult(result)}`);
  for (const c of result.checks) {
    if (c.pass !== null) t.ok(c.pass, `${c.name}: ${c.figure}`, c.known ? { todo: c.known } : {});
  }
  const unknown = result.checks.filter((c) => c.pass === false && !c.known);
  t.equal(unknown.length, 0, `${result.suite}: no failed check other than known issues`);
  return result;
}
