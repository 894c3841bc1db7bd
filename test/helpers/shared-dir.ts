// Where the shared reference material (captures, vmstorage vectors) lives: SPILLWAY_SHARED_DIR,
// else `shared/` beside this checkout, else the workplace's /work/shared (a CI clone may sit
// elsewhere on the same machine). A test that needs it fails loudly when none exists.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function locate(): string {
  const candidates = [process.env.SPILLWAY_SHARED_DIR, path.resolve(repoRoot, '..', 'shared'), '/work/shared'];
  for (const c of candidates) if (c && existsSync(path.join(c, 'captures'))) return c;
  return candidates.find((c) => c !== undefined)!;
}

export const sharedDir = locate();
