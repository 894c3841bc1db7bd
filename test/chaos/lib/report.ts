// What every chaos suite hands back: tables of figures, and checks that pass or fail.
// The runner prints them and exits non-zero on any failed check; the tap tests print them
// with t.comment and assert that every check passed.

export type Size = 'ci' | 'long';

export interface Check {
  name: string;
  /** The measured figure, as shown in the table. */
  figure: string;
  /** null: information only (shown, never fails the suite). */
  pass: boolean | null;
  /**
   * A failure already reported and not fixed yet: still FAIL here and in the runner's exit
   * code, but a tap `todo` in the CI tests, so CI stays green until the fix lands.
   */
  known?: string;
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface SuiteResult {
  suite: string;
  size: string;
  durationMs: number;
  tables: Table[];
  checks: Check[];
  notes: string[];
  ok: boolean;
}

/** Collects one suite's figures while it runs. */
export class Report {
  readonly tables: Table[] = [];
  readonly checks: Check[] = [];
  readonly notes: string[] = [];
  private readonly started = Date.now();

  constructor(
    readonly suite: string,
    readonly size: string,
  ) {}

  table(title: string, columns: string[], rows: (string | number)[][]): void {
    this.tables.push({ title, columns, rows });
  }

  /** A pass/fail row. Returns `pass`, so callers can branch on it. */
  check(name: string, pass: boolean, figure: string | number, known?: string): boolean {
    this.checks.push(known === undefined ? { name, figure: String(figure), pass } : { name, figure: String(figure), pass, known });
    return pass;
  }

  info(name: string, figure: string | number): void {
    this.checks.push({ name, figure: String(figure), pass: null });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** A failure that stopped the suite early: recorded as a failed check so it cannot pass. */
  abort(err: unknown): void {
    const msg = err instanceof Error ? `${err.message}` : String(err);
    this.check('suite ran to completion', false, msg.split('\n').slice(0, 12).join(' | ').slice(0, 1500));
  }

  finish(): SuiteResult {
    return {
      suite: this.suite,
      size: this.size,
      durationMs: Date.now() - this.started,
      tables: this.tables,
      checks: this.checks,
      notes: this.notes,
      ok: this.checks.every((c) => c.pass !== false) && this.checks.some((c) => c.pass === true),
    };
  }
}

function pad(s: string, n: number, right: boolean): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

const isNumeric = (s: string) => /^[-+]?[\d.,]+(?:\s?[a-zA-Z%/]+)?$/.test(s);

export function formatTable(columns: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const right = columns.map((_, i) => cells.length > 0 && cells.every((r) => isNumeric(r[i] ?? '') || (r[i] ?? '') === ''));
  const line = (r: string[]) => '| ' + r.map((c, i) => pad(c, widths[i]!, right[i]!)).join(' | ') + ' |';
  const sep = '|' + widths.map((w, i) => (right[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|';
  return [line(columns), sep, ...cells.map(line)].join('\n');
}

export function formatResult(r: SuiteResult): string {
  const out: string[] = [];
  const failed = r.checks.filter((c) => c.pass === false).length;
  out.push(`## ${r.suite} (${r.size}, ${(r.durationMs / 1000).toFixed(1)} s): ${r.ok ? 'PASS' : `FAIL (${failed} failed check${failed === 1 ? '' : 's'})`}`);
  for (const t of r.tables) {
    out.push('', t.title, formatTable(t.columns, t.rows));
  }
  out.push(
    '',
    formatTable(
      ['check', 'figure', 'result'],
      r.checks.map((c) => [c.name, c.figure, c.pass === null ? 'info' : c.pass ? 'PASS' : c.known ? 'FAIL (known)' : 'FAIL']),
    ),
  );
  for (const c of r.checks) if (c.pass === false && c.known) out.push(`known issue (${c.name}): ${c.known}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  mib: (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`,
  ms: (n: number) => `${Math.round(n)} ms`,
  s: (ms: number) => `${(ms / 1000).toFixed(1)} s`,
  pct: (x: number) => `${(x * 100).toFixed(1)}%`,
};
