// docs/operator-guide.md against the code and the deployment files: every Spillway flag it
// names is in `spillway -help` (at test time), the alert rules it quotes are the ones in
// deploy/alerts/spillway-alerts.yml, its alert table covers every rule, and the files it
// points to exist. (The metric names it uses are checked against a live /metrics in
// live.test.ts.)
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO, alertRules, checkArgsAgainstHelp, spillwayHelp, type AlertRule } from './lib.js';

const GUIDE = path.join(REPO, 'docs', 'operator-guide.md');
const text = readFileSync(GUIDE, 'utf8');

// Flags of other programs the guide names (vmselect/vmstorage, vmagent, vmalert).
const OTHER_PROGRAMS = new Set(['dedup.minScrapeInterval', 'remoteWrite.urlRelabelConfig', 'rule']);

t.test('every Spillway flag the guide names is in -help', async (t) => {
  const { flags } = spillwayHelp();
  const named = [...text.matchAll(/`(-[a-zA-Z][\w.]*(?:=[^`\s]*)?)`/g)].map((m) => m[1]!);
  t.ok(named.length >= 20, `${named.length} flags named`);
  for (const raw of named) {
    const name = raw.slice(1).split('=')[0]!;
    if (OTHER_PROGRAMS.has(name)) continue;
    if (name === 'help' || name === 'version') continue;
    if (raw.includes('=')) t.same(checkArgsAgainstHelp([raw]), [], `${raw}: a flag in -help with a valid value`);
    else t.ok(flags.has(name), `${raw} is in -help`);
  }
  const table = new Set([...text.matchAll(/^\| `-([\w.]+)/gm)].map((m) => m[1]!));
  const missing = [...flags.keys()].filter((f) => !table.has(f) && !text.includes(`\`-${f}\``));
  if (missing.length) t.comment(`flags in -help the guide does not discuss yet: ${missing.join(', ')}`);
});

t.test('the alert rules quoted in the guide are the ones in the rules file', async (t) => {
  const rules = new Map(alertRules().map((r) => [r.alert!, r]));
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^\s*- alert:/m.test(b));
  t.ok(blocks.length > 0, 'the guide quotes rules');
  for (const b of blocks) {
    const quoted = parse(b) as AlertRule[];
    for (const q of quoted) t.same(q, rules.get(q.alert!), `${q.alert} matches deploy/alerts/spillway-alerts.yml`);
  }
  const table = [...text.matchAll(/^\| (Spillway\w+(?: \/ Spillway\w+)?) \|/gm)].flatMap((m) => m[1]!.split(' / '));
  for (const name of rules.keys()) t.ok(table.includes(name), `the alert table explains ${name}`);
  for (const name of table) t.ok(rules.has(name), `${name} in the table is a rule in the file`);
});

t.test('the files the guide points to exist', async (t) => {
  const paths = [...text.matchAll(/`((?:deploy|docs|test|src|bench)\/[\w./-]*|Dockerfile)`/g)].map((m) => m[1]!);
  t.ok(paths.length >= 8, `${paths.length} paths`);
  for (const p of new Set(paths)) t.ok(existsSync(path.join(REPO, p.replace(/\/$/, ''))), p);
});
