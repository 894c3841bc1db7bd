// Prometheus text exposition (/api/v1/import/prometheus) into remote-write 1.0 TimeSeries,
// one per sample line:
//   # HELP / # TYPE / other comments      skipped
//   name{label="value",...} value [timestamp_ms] [# exemplar]
//   {"utf8.name", label="value"} value      (the quoted-name form of Prometheus 3)
// Names and values are copied from the body as byte ranges; only values with escapes
// (\\, \", \n) are unescaped, into the writer's scratch. A sample without a timestamp gets
// the receive time. A line that does not parse is counted as bad and skipped.
import type { WriteRequestWriter } from './writer.js';
import type { ImportResult } from './json-lines.js';

const enum C {
  Tab = 0x09,
  Nl = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Hash = 0x23,
  Comma = 0x2c,
  Eq = 0x3d,
  Backslash = 0x5c,
  LBrace = 0x7b,
  RBrace = 0x7d,
  n = 0x6e,
}

// "__name__"
const NAME_LABEL = Buffer.from('__name__');

const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^-?\d+$/;

// A null-prototype table, so "constructor" or "__proto__" are not values.
const SPECIAL: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, {
  nan: NaN,
  '+nan': NaN,
  '-nan': NaN,
  inf: Infinity,
  '+inf': Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-inf': -Infinity,
  '-infinity': -Infinity,
});

/** Thrown inside a line; caught per line. */
class LineError {
  constructor(readonly what: string) {}
}

function isSpace(b: number | undefined): boolean {
  return b === C.Space || b === C.Tab;
}

/** Parse a text exposition body into `w` (which must have been begun on `body`). */
export function parsePrometheusText(body: Buffer, w: WriteRequestWriter, receivedAtMs: number): ImportResult {
  const result: ImportResult = { lines: 0, badLines: 0 };
  // `__name__` goes into scratch once per line (cheap: 8 bytes) so the name label needs no special case.
  const n = body.length;
  let lineNo = 0;
  let p = 0;
  while (p < n) {
    let e = body.indexOf(C.Nl, p);
    if (e < 0) e = n;
    const next = e + 1;
    lineNo++;
    if (e > p && body[e - 1] === C.Cr) e--;
    let s = p;
    p = next;
    while (s < e && isSpace(body[s])) s++;
    if (s === e || body[s] === C.Hash) continue;
    result.lines++;
    try {
      parseLine(body, s, e, w, receivedAtMs);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      w.discard();
      result.badLines++;
      if (result.firstError === undefined) result.firstError = `line ${lineNo}: ${err.what}`;
    }
  }
  return result;
}

function parseLine(body: Buffer, p: number, end: number, w: WriteRequestWriter, receivedAtMs: number): void {
  // The metric name, unless the line starts with braces.
  const nameStart = p;
  while (p < end && body[p] !== C.LBrace && !isSpace(body[p])) {
    if (body[p] === C.Quote || body[p] === C.Eq || body[p] === C.Comma || body[p] === C.RBrace) throw new LineError('bad character in the metric name');
    p++;
  }
  const nameEnd = p;
  let haveName = nameEnd > nameStart;
  // Stage __name__ first; its value is filled in below when the name is quoted inside braces.
  const labelMark = w.scratchPos;
  for (let i = 0; i < NAME_LABEL.length; i++) w.scratchByte(NAME_LABEL[i]!);
  if (haveName) w.labelRanges(true, labelMark, labelMark + 8, false, nameStart, nameEnd);

  // Whitespace may separate the name from its labels.
  let afterName = p;
  while (afterName < end && isSpace(body[afterName])) afterName++;
  if (afterName < end && body[afterName] === C.LBrace) {
    p = afterName + 1;
    for (;;) {
      while (p < end && isSpace(body[p])) p++;
      if (p >= end) throw new LineError('unterminated label set');
      if (body[p] === C.RBrace) {
        p++;
        break;
      }
      // A label name: bare, or quoted (Prometheus 3).
      let ns: number;
      let ne: number;
      let nameInScratch = false;
      let quoted = false;
      if (body[p] === C.Quote) {
        quoted = true;
        const r = readQuoted(body, p, end, w);
        ns = r.start;
        ne = r.end;
        nameInScratch = r.inScratch;
        p = r.next;
      } else {
        ns = p;
        while (p < end && body[p] !== C.Eq && !isSpace(body[p]) && body[p] !== C.Comma && body[p] !== C.RBrace) {
          if (body[p] === C.Quote || body[p] === C.LBrace) throw new LineError('bad character in a label name');
          p++;
        }
        ne = p;
        if (ne === ns) throw new LineError('empty label name');
      }
      while (p < end && isSpace(body[p])) p++;
      if (quoted && p < end && (body[p] === C.Comma || body[p] === C.RBrace)) {
        // {"metric.name", ...}: a quoted string on its own is the metric name.
        if (haveName) throw new LineError('two metric names');
        haveName = true;
        w.labelRanges(true, labelMark, labelMark + 8, nameInScratch, ns, ne);
      } else {
        if (p >= end || body[p] !== C.Eq) throw new LineError('expected = after a label name');
        p++;
        while (p < end && isSpace(body[p])) p++;
        if (p >= end || body[p] !== C.Quote) throw new LineError('expected a quoted label value');
        const r = readQuoted(body, p, end, w);
        p = r.next;
        w.labelRanges(nameInScratch, ns, ne, r.inScratch, r.start, r.end);
      }
      while (p < end && isSpace(body[p])) p++;
      if (p < end && body[p] === C.Comma) p++;
      else if (p < end && body[p] === C.RBrace) continue;
      else throw new LineError('expected , or } after a label');
    }
  }
  if (!haveName) throw new LineError('no metric name');

  // Value.
  if (p >= end || !isSpace(body[p])) throw new LineError('expected a space before the value');
  while (p < end && isSpace(body[p])) p++;
  const vs = p;
  while (p < end && !isSpace(body[p])) p++;
  if (p === vs) throw new LineError('missing value');
  const value = parseValue(body.toString('latin1', vs, p));

  // Optional timestamp, then optionally an exemplar or comment.
  while (p < end && isSpace(body[p])) p++;
  let ts = receivedAtMs;
  if (p < end && body[p] !== C.Hash) {
    const ts0 = p;
    while (p < end && !isSpace(body[p])) p++;
    const tok = body.toString('latin1', ts0, p);
    if (!INTEGER.test(tok)) throw new LineError(`timestamp "${tok.slice(0, 32)}" is not integer milliseconds`);
    ts = Number(tok);
    if (!Number.isSafeInteger(ts)) throw new LineError('timestamp out of range');
    while (p < end && isSpace(body[p])) p++;
    if (p < end && body[p] !== C.Hash) throw new LineError('unexpected text after the timestamp');
  }
  w.sample(value, ts);
  w.commit();
}

function parseValue(tok: string): number {
  const special = SPECIAL[tok.toLowerCase()];
  if (special !== undefined) return special;
  if (!FLOAT.test(tok)) throw new LineError(`value "${tok.slice(0, 32)}" is not a number`);
  return Number(tok);
}

/**
 * A double-quoted string at body[p] (the opening quote). Without escapes it is a range of
 * the body; with escapes it is unescaped into scratch. Returns the range and where the line
 * continues after the closing quote.
 */
function readQuoted(body: Buffer, p: number, end: number, w: WriteRequestWriter): { start: number; end: number; inScratch: boolean; next: number } {
  const start = p + 1;
  let q = start;
  while (q < end && body[q] !== C.Quote && body[q] !== C.Backslash) q++;
  if (q < end && body[q] === C.Quote) return { start, end: q, inScratch: false, next: q + 1 };
  if (q >= end) throw new LineError('unterminated quoted string');
  // Escapes: copy into scratch, unescaping \\, \" and \n; other escapes are kept as written.
  const s0 = w.scratchPos;
  for (let i = start; i < q; i++) w.scratchByte(body[i]!);
  while (q < end) {
    const b = body[q]!;
    if (b === C.Quote) return { start: s0, end: w.scratchPos, inScratch: true, next: q + 1 };
    if (b === C.Backslash) {
      if (q + 1 >= end) break;
      const c = body[q + 1]!;
      if (c === C.Backslash || c === C.Quote) w.scratchByte(c);
      else if (c === C.n) w.scratchByte(C.Nl);
      else {
        w.scratchByte(C.Backslash);
        w.scratchByte(c);
      }
      q += 2;
    } else {
      w.scratchByte(b);
      q++;
    }
  }
  throw new LineError('unterminated quoted string');
}
