// VictoriaMetrics' JSON-lines import (/api/v1/import), as its export produces it:
//   {"metric":{"__name__":"up","job":"node"},"values":[1,0.5,null],"timestamps":[1700000000000,1700000015000,1700000030000]}
// one series per line, into remote-write 1.0 TimeSeries.
//
// Each line goes through JSON.parse: the format is text and JSON has escapes, so strings
// are unavoidable here; the label strings are written once into the writer's scratch.
// Accepted like VictoriaMetrics accepts them: blank lines skipped, a trailing \r dropped,
// values as numbers, null (NaN) or the strings "NaN", "Inf", "+Inf", "-Inf", "Infinity"
// (any of these case variants: nan, inf, infinity, null); timestamps integer milliseconds,
// as many as values. A line that is not such an object is counted as bad and skipped.
//
// Label order is the object's key order, except that JavaScript puts integer-like keys
// ("0", "12") first; label names are never integers in practice.
import type { WriteRequestWriter } from './writer.js';

export interface ImportResult {
  /** Non-blank lines seen. */
  lines: number;
  /** Lines skipped because they could not be used. */
  badLines: number;
  /** The first bad line's number (1-based) and what was wrong with it. */
  firstError?: string;
}

// A null-prototype table, so "constructor" or "__proto__" are not special values.
const SPECIAL: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, {
  nan: NaN,
  '-nan': NaN,
  null: NaN,
  '-null': NaN,
  inf: Infinity,
  '+inf': Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-inf': -Infinity,
  '-infinity': -Infinity,
});

/** Parse a JSON-lines body into `w` (which must have been begun on `body`). */
export function parseJsonLines(body: Buffer, w: WriteRequestWriter): ImportResult {
  const result: ImportResult = { lines: 0, badLines: 0 };
  const n = body.length;
  let lineNo = 0;
  let p = 0;
  while (p < n) {
    let e = body.indexOf(0x0a, p);
    if (e < 0) e = n;
    const next = e + 1;
    lineNo++;
    if (e > p && body[e - 1] === 0x0d) e--;
    // Blank (or whitespace-only) lines are not lines.
    let s = p;
    while (s < e && (body[s] === 0x20 || body[s] === 0x09)) s++;
    p = next;
    if (s === e) continue;
    result.lines++;
    const err = parseLine(body.toString('utf8', s, e), w);
    if (err !== undefined) {
      w.discard();
      result.badLines++;
      if (result.firstError === undefined) result.firstError = `line ${lineNo}: ${err}`;
    }
  }
  return result;
}

/** Stage and commit one line; returns what was wrong, or undefined. */
function parseLine(line: string, w: WriteRequestWriter): string | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    return `not JSON (${(err as Error).message.slice(0, 100)})`;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return 'not a JSON object';
  const { metric, values, timestamps } = obj as { metric?: unknown; values?: unknown; timestamps?: unknown };
  if (typeof metric !== 'object' || metric === null || Array.isArray(metric)) return 'missing "metric" object';
  if (!Array.isArray(values) || values.length === 0) return 'missing "values" array';
  if (!Array.isArray(timestamps) || timestamps.length === 0) return 'missing "timestamps" array';
  if (timestamps.length !== values.length) return `${timestamps.length} timestamps for ${values.length} values`;

  let labels = 0;
  for (const name in metric) {
    const value = (metric as Record<string, unknown>)[name];
    if (typeof value !== 'string') return `label "${name.slice(0, 64)}" has a ${value === null ? 'null' : typeof value} value, not a string`;
    w.labelStrings(name, value);
    labels++;
  }
  if (labels === 0) return '"metric" has no labels';

  for (let i = 0; i < values.length; i++) {
    const raw: unknown = values[i];
    let v: number;
    if (typeof raw === 'number') v = raw;
    else if (raw === null) v = NaN;
    else if (typeof raw === 'string' && SPECIAL[raw.toLowerCase()] !== undefined) v = SPECIAL[raw.toLowerCase()]!;
    else return `value ${i} is not a number`;
    const ts: unknown = timestamps[i];
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) return `timestamp ${i} is not an integer (milliseconds)`;
    w.sample(v, ts);
  }
  w.commit();
  return undefined;
}
