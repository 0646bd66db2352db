/**
 * Tenants by (environment, slug), cached. Lookups of names that do not exist are cached too, so a
 * flood of random hosts costs no database round trips. Soft-deleted tenants are invisible here:
 * for every caller they do not exist.
 */
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/database.ts';
import type { SigningAlgorithm } from '../catalog/signing-algorithms.ts';
import type { TenantStatus } from '../catalog/tenant-statuses.ts';
import type { TokenQuota } from '../catalog/token-quotas.ts';

export interface TenantSettings {
  /** seconds; default 3600 */
  readonly access_token_ttl?: number;
  readonly signing_alg?: SigningAlgorithm;
  readonly scopes?: readonly string[];
  /** per_client, per_tenant: requests per second; auth_failures within auth_failure_window seconds */
  readonly rate_limit?: {
    readonly per_client?: number;
    readonly per_tenant?: number;
    readonly auth_failures?: number;
    readonly auth_failure_window?: number;
  };
  readonly webhooks?: { readonly enabled?: boolean; readonly max_subscriptions?: number };
  /** RFC 9449 at the token endpoint */
  readonly dpop?: { readonly require_nonce?: boolean };
  /** access tokens per client per hour and per day; none by default */
  readonly token_quota?: TokenQuota;
}

/** 'platform' is the row behind the platform issuer (authentication.<domain>/platform). */
export type TenantKind = 'tenant' | 'platform';

export interface Tenant {
  readonly id: string;
  readonly kind: TenantKind;
  readonly environment: string;
  readonly slug: string;
  readonly name: string;
  readonly status: TenantStatus;
  readonly settings: TenantSettings;
}

export function createTenantQueries(db: Database) {
  return {
    async findTenantBySlug(environment: string, slug: string): Promise<Tenant | undefined> {
      const [row] = await db.reader(null).query<Tenant & Record<string, unknown>>(
        `SELECT id, kind, environment, slug, name, status, settings
           FROM tenants
          WHERE environment = $1 AND slug = $2 AND deleted_at IS NULL`,
        [environment, slug],
      );
      return row
        ? {
            id: row.id,
            kind: row.kind,
            environment: row.environment,
            slug: row.slug,
            name: row.name,
            status: row.status,
            settings: row.settings,
          }
        : undefined;
    },
  };
}
export type TenantQueries = ReturnType<typeof createTenantQueries>;

export interface TenantCacheOptions {
  readonly max: number;
  readonly ttlMs: number;
}

export function createTenantCache(queries: TenantQueries, options: TenantCacheOptions) {
  const cache = new LRUCache<string, { tenant: Tenant | undefined }>({ max: options.max, ttl: options.ttlMs || 1 });
  const inflight = new Map<string, Promise<Tenant | undefined>>();
  return {
    async getTenant(environment: string, slug: string): Promise<Tenant | undefined> {
      const key = `${environment}\u0000${slug}`;
      const hit = options.ttlMs > 0 ? cache.get(key) : undefined;
      if (hit) return hit.tenant;
      let pending = inflight.get(key);
      if (!pending) {
        pending = queries.findTenantBySlug(environment, slug).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      const tenant = await pending;
      cache.set(key, { tenant });
      return tenant;
    },
    invalidate(environment: string, slug: string): void {
      cache.delete(`${environment}\u0000${slug}`);
    },
    clear(): void {
      cache.clear();
    },
    get size(): number {
      return cache.size;
    },
  };
}
export type TenantCache = ReturnType<typeof createTenantCache>;
