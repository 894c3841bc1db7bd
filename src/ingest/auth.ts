// Who may write, and to which tenant. Checked when the request line and headers arrive,
// before the body is read, so a client without credentials costs nothing but a 401.
//
// - -httpAuth.username/-httpAuth.password: HTTP basic auth, any tenant.
// - -httpAuth.tokensFile: bearer tokens, one per line: `<token>` (any tenant) or
//   `<token> <accountID>[:<projectID>]` (that tenant only: another tenant's path gets 403).
// Health and readiness stay open for load balancers and orchestrators.

import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SpillwayError } from '../errors.js';
import { DEFAULT_TENANT, parseTenant, type Tenant } from './paths.js';

export interface AuthOptions {
  username: string;
  password: string;
  tokensFile: string;
}

interface TokenGrant {
  token: Buffer;
  /** Undefined: any tenant. */
  tenant?: Tenant;
}

export class Auth {
  private readonly basic: Buffer | undefined;
  private readonly tokens: TokenGrant[];

  constructor(opts: AuthOptions) {
    this.basic = opts.username !== '' ? Buffer.from(`${opts.username}:${opts.password}`) : undefined;
    this.tokens = opts.tokensFile !== '' ? readTokens(opts.tokensFile) : [];
  }

  get enabled(): boolean {
    return this.basic !== undefined || this.tokens.length > 0;
  }

  /**
   * Throws SPW_ERR_UNAUTHORIZED (401) without valid credentials, SPW_ERR_FORBIDDEN (403) for a
   * token bound to another tenant. `tenant` is the tenant the path writes to (undefined for
   * endpoints that are not tenant-scoped, such as /metrics and the status page).
   */
  check(authorization: string | undefined, tenant: Tenant | undefined): void {
    if (!this.enabled) return;
    const header = authorization ?? '';
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space < 0 ? header.length : space).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic' && this.basic) {
      if (safeEqual(Buffer.from(value, 'base64'), this.basic)) return;
    } else if (scheme === 'bearer' && this.tokens.length > 0) {
      const given = Buffer.from(value);
      // Compare with every token, so the time taken does not reveal which one nearly matched.
      let grant: TokenGrant | undefined;
      for (const g of this.tokens) if (safeEqual(given, g.token)) grant = g;
      if (grant) {
        if (grant.tenant && tenant && (grant.tenant.accountID !== tenant.accountID || grant.tenant.projectID !== tenant.projectID)) {
          throw new SpillwayError('SPW_ERR_FORBIDDEN', `this token may only write tenant ${grant.tenant.accountID}:${grant.tenant.projectID}`);
        }
        return;
      }
    }
    throw new SpillwayError('SPW_ERR_UNAUTHORIZED', header === '' ? 'no credentials' : 'wrong credentials');
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function readTokens(file: string): TokenGrant[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpillwayError('SPW_ERR_CONFIG', `-httpAuth.tokensFile=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const grants: TokenGrant[] = [];
  text.split('\n').forEach((line, i) => {
    const parts = line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (parts.length === 0) return;
    if (parts.length > 2) throw new SpillwayError('SPW_ERR_CONFIG', `-httpAuth.tokensFile ${file} line ${i + 1}: write "<token>" or "<token> <accountID>[:<projectID>]"`);
    let tenant: Tenant | undefined;
    if (parts[1] !== undefined) {
      try {
        tenant = parseTenant(parts[1]);
      } catch {
        throw new SpillwayError('SPW_ERR_CONFIG', `-httpAuth.tokensFile ${file} line ${i + 1}: "${parts[1]}" is not a tenant (accountID[:projectID])`);
      }
    }
    grants.push(tenant ? { token: Buffer.from(parts[0]!), tenant } : { token: Buffer.from(parts[0]!) });
  });
  return grants;
}

/** The tenant a write path addresses: from /insert/<tenant>/..., else the default 0:0. */
export function tenantOfPath(url: string): Tenant | undefined {
  const m = /^\/insert\/([^/]+)\//.exec(url);
  if (m) {
    try {
      return parseTenant(m[1]!);
    } catch {
      return undefined; // the route itself answers 400 for a malformed tenant
    }
  }
  return DEFAULT_TENANT;
}
