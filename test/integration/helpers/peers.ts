// Where the peer binaries live: .peers/bin, filled by `npm run peers` (scripts/install-peers.sh).
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PEERS_BIN = path.join(REPO_ROOT, '.peers', 'bin');

export type PeerName = 'victoria-metrics' | 'vmagent' | 'prometheus';

export class MissingPeerError extends Error {
  override name = 'MissingPeerError';
}

/**
 * Absolute path of a peer binary. A missing peer is an error, never a reason to skip:
 * the integration tests exist to run against the real thing.
 */
export function peerPath(name: PeerName): string {
  const p = path.join(PEERS_BIN, name);
  try {
    accessSync(p, constants.X_OK);
  } catch {
    const where = process.env.CI === 'true' ? 'CI must install it before the tests (.ci/run runs `npm test`, which does)' : 'install it';
    throw new MissingPeerError(
      `peer binary ${path.relative(REPO_ROOT, p)} is missing or not executable; ${where}: run \`npm run peers\` (scripts/install-peers.sh fetches Debian's victoria-metrics and prometheus packages into .peers/)`,
    );
  }
  return p;
}
