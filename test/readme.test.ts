// The README is the operator's reference: every flag, every endpoint family, the two
// quick-start commands. Kept honest by checking it against the code.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { FLAGS } from '../src/config/flags.js';
import { ERRORS } from '../src/errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

t.test('every flag is documented in the README', async (t) => {
  for (const f of FLAGS) t.ok(readme.includes(`-${f.name}`), `-${f.name}`);
});

t.test('quick start has the two commands, and .ci/run uses the test one', async (t) => {
  t.match(readme, /npm ci && npm start/);
  t.match(readme, /npm ci && npm test/);
  t.match(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8'), /npm test/);
});

t.test('every status an error can produce appears in the status table', async (t) => {
  const statuses = new Set(Object.values(ERRORS).map((e) => e.status).filter((s) => s < 500 || s === 503));
  for (const s of statuses) t.ok(new RegExp(`\\| ${s}|${s} with|; ${s}|\\b${s}\\b`).test(readme), `status ${s}`);
});
