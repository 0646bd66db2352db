/**
 * What a tenant's authorization server and resource server need from the database, loaded in one
 * scoped transaction and cached: its clients (with secret hashes) and its signing keys. Bounded,
 * and short-lived until the operator plane's notifications invalidate entries by name.
 */
import type { JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import type { SigningAlgorithm } from '../catalog/signing-algorithms.ts';
import type { TokenQuota } from '../catalog/token-quotas.ts';
import type { Database } from '../db/database.ts';
import type { Change } from '../tenancy/change-notifications.ts';
import type { KeyEncryption } from './key-encryption.ts';
import { findPublishedSigningKeys } from './signing-keys.ts';

export interface ClientRecord {
  readonly clientId: string;
  readonly name: string;
  readonly authMethods: readonly string[];
  readonly scopes: readonly string[];
  readonly accessTokenTtl: number | null;
  /** RFC 9449: its token requests must carry a DPoP proof */
  readonly dpopBoundAccessTokens: boolean;
  /** the client's own token quota; null: the tenant's token_quota setting applies */
  readonly tokenQuota: TokenQuota | null;
  /** live secret hashes with their expiry (epoch seconds, null = none) */
  readonly secrets: readonly { readonly hash: string; readonly expiresAt: number | null }[];
  /** private_key_jwt: the registered public keys (inline), or where to fetch them */
  readonly jwks: { readonly keys: readonly JWK[] } | null;
  readonly jwksUri: string | null;
}

export interface TenantKeys {
  /** decrypted private JWK of the current key: goes only into the tenant's Provider */
  readonly signingKey: JWK & { kid: string; alg: SigningAlgorithm };
  /** every published public key (next, current, retired): what the resource server accepts */
  readonly publicKeys: readonly JWK[];
}

export interface CredentialCacheOptions {
  readonly clientCacheSize: number;
  readonly keyCacheSize: number;
  readonly ttlMs: number;
}

export function createTenantCredentials(db: Database, encryption: KeyEncryption, options: CredentialCacheOptions) {
  // a disabled client is cached as absent, marked so the auth event log can say why it was refused
  const clients = new LRUCache<string, { client: ClientRecord | undefined; disabled?: true }>({
    max: options.clientCacheSize,
    ttl: options.ttlMs || 1,
  });
  const keys = new LRUCache<string, TenantKeys>({ max: options.keyCacheSize });

  async function loadClient(tenantId: string, clientId: string): Promise<{ client: ClientRecord | undefined; disabled?: true }> {
    const rows = await db.scoped(tenantId, (tx) =>
      tx.query<{
        client_id: string;
        name: string;
        auth_methods: string[];
        scopes: string[];
        access_token_ttl: number | null;
        dpop_bound_access_tokens: boolean;
        jwks: { keys: JWK[] } | null;
        jwks_uri: string | null;
        token_quota: TokenQuota | null;
        secret_hash: string | null;
        expires_at: Date | null;
        disabled: boolean;
      }>(
        `SELECT c.client_id, c.name, c.auth_methods, c.scopes, c.access_token_ttl, c.token_quota, c.dpop_bound_access_tokens, c.jwks, c.jwks_uri,
                s.secret_hash, s.expires_at, c.disabled_at IS NOT NULL AS disabled
           FROM clients c
           LEFT JOIN client_secrets s
             ON s.tenant_id = c.tenant_id AND s.client_id = c.id AND (s.expires_at IS NULL OR s.expires_at > now())
          WHERE c.tenant_id = $1 AND c.client_id = $2`,
        [tenantId, clientId],
      ),
    );
    const [first] = rows;
    if (!first) return { client: undefined };
    if (first.disabled) return { client: undefined, disabled: true };
    const client = {
      clientId: first.client_id,
      name: first.name,
      authMethods: first.auth_methods,
      scopes: first.scopes,
      accessTokenTtl: first.access_token_ttl,
      dpopBoundAccessTokens: first.dpop_bound_access_tokens,
      jwks: first.jwks,
      jwksUri: first.jwks_uri,
      tokenQuota: first.token_quota,
      secrets: rows
        .filter((r) => r.secret_hash !== null)
        .map((r) => ({
          hash: r.secret_hash as string,
          expiresAt: r.expires_at ? Math.floor(new Date(r.expires_at).getTime() / 1000) : null,
        })),
    };
    return { client };
  }

  // Bumped by every invalidation: a load that started before a change must not store what it read
  // (a notification that arrived while it ran would otherwise be undone by a stale entry).
  let keysGeneration = 0;

  async function loadKeys(tenantId: string): Promise<{ keys: TenantKeys; ttl: number } | undefined> {
    const records = await db.scoped(tenantId, (tx) => findPublishedSigningKeys(tx, tenantId));
    const current = records.find((r) => r.state === 'current');
    if (!current) return undefined;
    const signingKey = JSON.parse(encryption.decrypt(current.privateJwkEncrypted)) as TenantKeys['signingKey'];
    // A retired key leaves the set at its not_after, which no notification announces: the entry
    // lives until the first of them (0 = no expiry).
    const ends = records.flatMap((r) => (r.notAfter ? [r.notAfter.getTime() - Date.now()] : []));
    const ttl = ends.length > 0 ? Math.max(1, Math.min(...ends)) : 0;
    return { keys: { signingKey, publicKeys: records.map((r) => r.publicJwk) }, ttl };
  }

  function invalidateKeys(tenantId: string): void {
    keysGeneration += 1;
    keys.delete(tenantId);
  }

  return {
    async getClient(tenantId: string, clientId: string): Promise<ClientRecord | undefined> {
      const key = `${tenantId}\u0000${clientId}`;
      const hit = options.ttlMs > 0 ? clients.get(key) : undefined;
      if (hit) return hit.client;
      const loaded = await loadClient(tenantId, clientId);
      clients.set(key, loaded);
      return loaded.client;
    },
    /** Whether getClient last found this client disabled (from the cache only: never a query). */
    wasDisabled(tenantId: string, clientId: string): boolean {
      return clients.peek(`${tenantId}\u0000${clientId}`)?.disabled === true;
    },
    async getKeys(tenantId: string): Promise<TenantKeys | undefined> {
      const hit = keys.get(tenantId);
      if (hit) return hit;
      const generation = keysGeneration;
      const loaded = await loadKeys(tenantId);
      if (loaded && generation === keysGeneration) keys.set(tenantId, loaded.keys, { ttl: loaded.ttl });
      return loaded?.keys;
    },
    invalidateKeys,
    /** A client's change drops that client's record (every one of the tenant's when the
     * notification cannot name it); a change of the keys drops the tenant's keys. */
    onChange(change: Change): void {
      if (change.kind === 'keys') invalidateKeys(change.tenant);
      else if (change.kind === 'client' && change.id !== null) clients.delete(`${change.tenant}\u0000${change.id}`);
      else if (change.kind === 'client') {
        const prefix = `${change.tenant}\u0000`;
        for (const key of [...clients.keys()]) if (key.startsWith(prefix)) clients.delete(key);
      }
    },
    clear(): void {
      clients.clear();
      keysGeneration += 1;
      keys.clear();
    },
  };
}
export type TenantCredentials = ReturnType<typeof createTenantCredentials>;
