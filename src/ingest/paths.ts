// The write paths Spillway answers, and the tenant each one carries.

import { SpillwayError } from '../errors.js';

export interface Tenant {
  accountID: number;
  projectID: number;
}

export const DEFAULT_TENANT: Readonly<Tenant> = Object.freeze({ accountID: 0, projectID: 0 });

/** Paths without a tenant: the single-node VictoriaMetrics / Prometheus / PMM ones (tenant 0:0). */
export const PLAIN_WRITE_PATHS = ['/api/v1/write', '/prometheus/api/v1/write', '/victoriametrics/api/v1/write'] as const;

/** vminsert's multitenant paths; `:tenant` is `<accountID>` or `<accountID>:<projectID>`. */
export const TENANT_WRITE_PATHS = ['/insert/:tenant/prometheus/api/v1/write', '/insert/:tenant/prometheus'] as const;

/** JSON-lines import (VictoriaMetrics export format), tenant 0:0. */
export const PLAIN_IMPORT_PATHS = ['/api/v1/import', '/prometheus/api/v1/import', '/victoriametrics/api/v1/import'] as const;
/** Prometheus text exposition import, tenant 0:0. */
export const PLAIN_IMPORT_PROMETHEUS_PATHS = [
  '/api/v1/import/prometheus',
  '/prometheus/api/v1/import/prometheus',
  '/victoriametrics/api/v1/import/prometheus',
] as const;
/** The same under vminsert's multitenant prefix. */
export const TENANT_IMPORT_PATHS = ['/insert/:tenant/prometheus/api/v1/import'] as const;
export const TENANT_IMPORT_PROMETHEUS_PATHS = ['/insert/:tenant/prometheus/api/v1/import/prometheus'] as const;

const U32_MAX = 0xffffffff;

/** Parses "7" or "7:3" the way vminsert does; anything else is a 400 that says the expected form. */
export function parseTenant(raw: string): Tenant {
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(raw);
  if (!m) throw new SpillwayError('SPW_ERR_BAD_TENANT', `bad tenant "${raw.slice(0, 64)}"`);
  const accountID = Number(m[1]);
  const projectID = m[2] === undefined ? 0 : Number(m[2]);
  if (accountID > U32_MAX || projectID > U32_MAX) throw new SpillwayError('SPW_ERR_BAD_TENANT', `bad tenant "${raw}"`);
  return { accountID, projectID };
}

export function tenantString(t: Tenant): string {
  return `${t.accountID}:${t.projectID}`;
}
