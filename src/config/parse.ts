// Parsing of flag values written the way VictoriaMetrics writes them (sizes like 32MiB,
// durations like 1m30s), and of the command line in both -flag=value and --flag value forms.

import { SpillwayError } from '../errors.js';
import { FLAG_BY_NAME, FLAGS, envName, type FlagSpec } from './flags.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

export function parseBytes(flag: string, raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(raw);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${raw} is not a size; write e.g. 32MiB, 500MB or 1048576`);
  }
  return Math.round(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Returns milliseconds. A bare number is seconds. */
export function parseDuration(flag: string, raw: string): number {
  const s = raw.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  let total = 0;
  let rest = s;
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/;
  if (rest === '') rest = 'x';
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${raw} is not a duration; write e.g. 500ms, 30s, 1m30s or 2h`);
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

export function parseInt32(flag: string, raw: string, min = 0): number {
  if (!/^\s*-?\d+\s*$/.test(raw)) throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${raw} is not an integer`);
  const n = Number(raw);
  if (n < min || !Number.isSafeInteger(n)) throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${raw} must be an integer >= ${min}`);
  return n;
}

export function parseBool(flag: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes' || v === '') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${raw} must be true or false`);
}

export interface RawFlags {
  /** Each flag's values in order of appearance (lists keep all; others keep the last). */
  values: Map<string, string[]>;
  help: boolean;
  version: boolean;
}

/**
 * Reads `-name=value`, `--name=value`, `-name value`, `--name value` and bare booleans.
 * Environment variables (SPILLWAY_*) apply first; the command line overrides them.
 */
export function readFlags(argv: readonly string[], env: NodeJS.ProcessEnv): RawFlags {
  const values = new Map<string, string[]>();
  for (const spec of FLAGS) {
    const v = env[envName(spec.name)];
    if (v !== undefined) values.set(spec.name, [v]);
  }
  const fromArgs = new Map<string, string[]>();
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-')) {
      throw new SpillwayError('SPW_ERR_CONFIG', `unexpected argument "${arg}"; flags look like -name=value`);
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'help' || name === 'h') {
      help = true;
      continue;
    }
    if (name === 'version') {
      version = true;
      continue;
    }
    const spec = FLAG_BY_NAME.get(name);
    if (!spec) throw new SpillwayError('SPW_ERR_CONFIG', `unknown flag -${name}${suggest(name)}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.type === 'bool') value = argv[i + 1] === 'true' || argv[i + 1] === 'false' ? argv[++i]! : 'true';
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new SpillwayError('SPW_ERR_CONFIG', `-${name} needs a value`);
    const list = fromArgs.get(name) ?? [];
    list.push(value);
    fromArgs.set(name, list);
  }
  for (const [k, v] of fromArgs) values.set(k, v);
  return { values, help, version };
}

function suggest(name: string): string {
  const lower = name.toLowerCase();
  const close = FLAGS.find((f) => f.name.toLowerCase() === lower || f.name.toLowerCase().includes(lower));
  return close ? ` (did you mean -${close.name}?)` : '; run with -help for the list';
}

/** The value of a flag, or its default. */
export function valueOf(raw: RawFlags, spec: FlagSpec): string {
  const v = raw.values.get(spec.name);
  return v === undefined ? spec.default : v[v.length - 1]!;
}

/** All values of a repeatable flag; each may also be comma-separated. */
export function listOf(raw: RawFlags, spec: FlagSpec): string[] {
  const v = raw.values.get(spec.name) ?? [spec.default];
  return v.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
}

export function helpText(): string {
  const lines = ['Usage: spillway [-flag=value ...]', '', 'Every flag can also be written --flag value, or set through the environment variable shown.', ''];
  for (const f of FLAGS) {
    const def = f.default === '' ? '' : ` (default ${f.default})`;
    lines.push(`  -${f.name}  ${f.type}${def}   env ${envName(f.name)}`);
    if (f.values) lines.push(`      one of: ${f.values.join(', ')}`);
    lines.push(`      ${f.help}`);
  }
  return lines.join('\n') + '\n';
}
