/** Creating integration clients: the secret is generated here and returned exactly once (a
 * private_key_jwt client has none: it registers public keys, inline or as a jwks_uri). */
import type { JWK } from 'jose';
import type { Database, Queryable } from '../db/database.ts';
import { updateAssignments } from '../db/update-assignments.ts';
import {
  CLIENT_AUTH_METHODS,
  type ClientAuthMethod,
  DEFAULT_CLIENT_AUTH_METHOD,
  SECRET_AUTH_METHODS,
} from '../catalog/client-auth-methods.ts';
import type { TokenQuota } from '../catalog/token-quotas.ts';
import { generateClientId, generateClientSecret, hashClientSecret } from './client-secrets.ts';

/** Every client id, generated (tc_…) or chosen: RFC 6749 VSCHAR narrowed to URL-safe characters. */
export const CLIENT_ID_PATTERN = '^[A-Za-z0-9._~-]{1,128}$';

export interface NewClient {
  readonly name: string;
  readonly scopes: readonly string[];
  readonly clientId?: string;
  readonly accessTokenTtl?: number | null;
  /** a secret method (a private_key_jwt client is inserted by insertKeyClient) */
  readonly authMethod?: ClientAuthMethod;
  /** RFC 9449: its token requests must carry a DPoP proof */
  readonly dpopBoundAccessTokens?: boolean;
  /** replaces the tenant's token_quota for this client; null or absent: the tenant's applies */
  readonly tokenQuota?: TokenQuota | null;
}

/** A private_key_jwt client's public keys: an inline JWK Set, or the URL of one. */
export type ClientKeys = { readonly jwks: { readonly keys: readonly JWK[] } } | { readonly jwksUri: string };

export interface IssuedClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

const keyColumns = (keys: ClientKeys | undefined) =>
  keys === undefined ? [null, null] : 'jwks' in keys ? [JSON.stringify(keys.jwks), null] : [null, keys.jwksUri];

/** Inserts the client and its first secret in the caller's transaction (scoped to the tenant). */
export async function insertClient(tx: Queryable, tenantId: string, input: NewClient): Promise<IssuedClientCredentials & { id: string }> {
  const method = input.authMethod ?? DEFAULT_CLIENT_AUTH_METHOD;
  if (!SECRET_AUTH_METHODS.includes(method)) throw new TypeError(`insertClient makes secret clients; ${method} is insertKeyClient's`);
  const { id, clientId } = await insertClientRow(tx, tenantId, input, method, undefined);
  const clientSecret = generateClientSecret();
  await tx.query(`INSERT INTO client_secrets (tenant_id, client_id, secret_hash) VALUES ($1, $2, $3)`, [
    tenantId,
    id,
    hashClientSecret(clientSecret),
  ]);
  return { id, clientId, clientSecret };
}

/** Inserts a private_key_jwt client with its public keys (checked by the caller: clientJwksProblem, jwksUriProblem); no secret. */
export async function insertKeyClient(
  tx: Queryable,
  tenantId: string,
  input: Omit<NewClient, 'authMethod'> & { readonly keys: ClientKeys },
): Promise<{ id: string; clientId: string }> {
  return insertClientRow(tx, tenantId, input, 'private_key_jwt', input.keys);
}

async function insertClientRow(
  tx: Queryable,
  tenantId: string,
  input: NewClient,
  method: ClientAuthMethod,
  keys: ClientKeys | undefined,
): Promise<{ id: string; clientId: string }> {
  const clientId = input.clientId ?? generateClientId();
  const [client] = await tx.query<{ id: string }>(
    `INSERT INTO clients (tenant_id, client_id, name, scopes, access_token_ttl, auth_methods, jwks, jwks_uri, dpop_bound_access_tokens, token_quota)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
    [
      tenantId,
      clientId,
      input.name,
      input.scopes,
      input.accessTokenTtl ?? null,
      [method],
      ...keyColumns(keys),
      input.dpopBoundAccessTokens ?? false,
      input.tokenQuota ? JSON.stringify(input.tokenQuota) : null,
    ],
  );
  if (!client) throw new Error('client insert returned no row');
  return { id: client.id, clientId };
}

export async function createClient(db: Database, tenantId: string, input: NewClient): Promise<IssuedClientCredentials> {
  const { clientId, clientSecret } = await db.admin.scoped(tenantId, (tx) => insertClient(tx, tenantId, input));
  return { clientId, clientSecret };
}

/** The admin API's view of a client: never a secret or a hash, only each secret's metadata. */
export interface ClientRepresentation {
  readonly client_id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly access_token_ttl: number | null;
  /** null: the tenant's token_quota applies */
  readonly token_quota: TokenQuota | null;
  readonly token_endpoint_auth_method: ClientAuthMethod;
  readonly dpop_bound_access_tokens: boolean;
  /** private_key_jwt: the registered public JWK Set, or the URL it is fetched from (else both null) */
  readonly jwks: { keys: JWK[] } | null;
  readonly jwks_uri: string | null;
  readonly status: 'enabled' | 'disabled';
  readonly disabled_at: string | null;
  readonly last_used_at: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly secrets: { id: string; created_at: string; expires_at: string | null; last_used_at: string | null }[];
}

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

/** The columns of a clients row that say what the client is (the admin API shows them, a sandbox
 * sync copies them). A type, not an interface: a query's row type must be indexable. */
export type ClientColumns = {
  client_id: string;
  name: string;
  scopes: string[];
  access_token_ttl: number | null;
  token_quota: TokenQuota | null;
  auth_methods: string[];
  dpop_bound_access_tokens: boolean;
  jwks: { keys: JWK[] } | null;
  jwks_uri: string | null;
  disabled_at: Date | null;
};

/** Clients of the tenant the transaction is scoped to, with their secrets' metadata (expired ones
 * included, so an operator sees what stopped working and when). */
/**
 * Locks the client's row until the caller's transaction ends, so a check read after it (its keys,
 * its secrets) still holds when the caller writes: without it, a change committed in between (the
 * sandbox sync clears keys) makes the write meet the database's CHECK instead of the check.
 */
export async function lockClient(tx: Queryable, tenantId: string, clientId: string): Promise<void> {
  await tx.query(`SELECT 1 FROM clients WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE`, [tenantId, clientId]);
}

export async function findClients(tx: Queryable, tenantId: string, clientId?: string): Promise<ClientRepresentation[]> {
  const rows = await tx.query<
    ClientColumns & {
      last_used_at: Date | null;
      created_at: Date;
      updated_at: Date;
      secrets: { id: string; created_at: string; expires_at: string | null; last_used_at: string | null }[];
    }
  >(
    `SELECT c.client_id, c.name, c.scopes, c.access_token_ttl, c.token_quota, c.auth_methods, c.dpop_bound_access_tokens, c.jwks, c.jwks_uri, c.disabled_at, c.last_used_at, c.created_at, c.updated_at,
            coalesce((SELECT json_agg(json_build_object('id', s.id, 'created_at', s.created_at, 'expires_at', s.expires_at,
                                                        'last_used_at', s.last_used_at) ORDER BY s.created_at DESC)
                        FROM client_secrets s WHERE s.tenant_id = c.tenant_id AND s.client_id = c.id), '[]') AS secrets
       FROM clients c
      WHERE c.tenant_id = $1 ${clientId === undefined ? '' : 'AND c.client_id = $2'}
      ORDER BY c.created_at, c.client_id`,
    clientId === undefined ? [tenantId] : [tenantId, clientId],
  );
  return rows.map((r) => ({
    client_id: r.client_id,
    name: r.name,
    scopes: r.scopes,
    access_token_ttl: r.access_token_ttl,
    token_quota: r.token_quota,
    token_endpoint_auth_method: (r.auth_methods.find((m) => (CLIENT_AUTH_METHODS as readonly string[]).includes(m)) ??
      DEFAULT_CLIENT_AUTH_METHOD) as ClientAuthMethod,
    dpop_bound_access_tokens: r.dpop_bound_access_tokens,
    jwks: r.jwks,
    jwks_uri: r.jwks_uri,
    status: r.disabled_at ? 'disabled' : 'enabled',
    disabled_at: iso(r.disabled_at),
    last_used_at: iso(r.last_used_at),
    created_at: iso(r.created_at) as string,
    updated_at: iso(r.updated_at) as string,
    secrets: r.secrets.map((s) => ({
      id: s.id,
      created_at: iso(s.created_at) as string,
      expires_at: iso(s.expires_at),
      last_used_at: iso(s.last_used_at),
    })),
  }));
}

export interface ClientChanges {
  readonly name?: string;
  readonly scopes?: readonly string[];
  readonly accessTokenTtl?: number | null;
  readonly authMethod?: ClientAuthMethod;
  readonly dpopBoundAccessTokens?: boolean;
  readonly tokenQuota?: TokenQuota | null;
  readonly disabled?: boolean;
}

/** Applies the changes; false when no such client. */
export async function updateClient(tx: Queryable, tenantId: string, clientId: string, changes: ClientChanges): Promise<boolean> {
  const params: unknown[] = [tenantId, clientId];
  const { sets, set } = updateAssignments(params);
  if (changes.name !== undefined) set('name = ?', changes.name);
  if (changes.scopes !== undefined) set('scopes = ?', changes.scopes);
  if (changes.accessTokenTtl !== undefined) set('access_token_ttl = ?', changes.accessTokenTtl);
  if (changes.authMethod !== undefined) set('auth_methods = ?', [changes.authMethod]);
  if (changes.dpopBoundAccessTokens !== undefined) set('dpop_bound_access_tokens = ?', changes.dpopBoundAccessTokens);
  if (changes.tokenQuota !== undefined) set('token_quota = ?', changes.tokenQuota === null ? null : JSON.stringify(changes.tokenQuota));
  if (changes.disabled === true) sets.push('disabled_at = coalesce(disabled_at, now())');
  if (changes.disabled === false) sets.push('disabled_at = NULL');
  const rows = await tx.query(`UPDATE clients SET ${sets.join(', ')} WHERE tenant_id = $1 AND client_id = $2 RETURNING 1`, params);
  return rows.length > 0;
}

/** Replaces a client's public keys (either form clears the other); false when no such client. */
export async function setClientKeys(tx: Queryable, tenantId: string, clientId: string, keys: ClientKeys): Promise<boolean> {
  const rows = await tx.query(
    `UPDATE clients SET jwks = $3, jwks_uri = $4, updated_at = now() WHERE tenant_id = $1 AND client_id = $2 RETURNING 1`,
    [tenantId, clientId, ...keyColumns(keys)],
  );
  return rows.length > 0;
}

export async function deleteClient(tx: Queryable, tenantId: string, clientId: string): Promise<boolean> {
  const rows = await tx.query(`DELETE FROM clients WHERE tenant_id = $1 AND client_id = $2 RETURNING 1`, [tenantId, clientId]);
  return rows.length > 0;
}

export const MAX_LIVE_SECRETS = 2;
/** How long a rotated-out secret keeps working unless the caller says otherwise: 7 days. */
export const DEFAULT_SECRET_GRACE_SECONDS = 7 * 86400;

export class TooManyLiveSecretsError extends Error {
  override name = 'TooManyLiveSecretsError';
  readonly expiresAt: string;
  constructor(expiresAt: string) {
    super(`the client already has ${MAX_LIVE_SECRETS} live secrets; the older one expires at ${expiresAt}`);
    this.expiresAt = expiresAt;
  }
}

/**
 * A new secret; every live one keeps working until now + graceSeconds (or its own earlier
 * expiry); 0 ends them at once. At most two live at once: rotating again while a previous secret
 * is still in its grace period is refused rather than cutting that one short silently.
 */
export async function rotateClientSecret(
  tx: Queryable,
  tenantId: string,
  clientId: string,
  graceSeconds: number,
): Promise<{ clientSecret: string } | undefined> {
  const [client] = await tx.query<{ id: string }>(`SELECT id FROM clients WHERE tenant_id = $1 AND client_id = $2 FOR UPDATE`, [
    tenantId,
    clientId,
  ]);
  if (!client) return undefined;
  const live = await tx.query<{ id: string; expires_at: Date | null }>(
    `SELECT id, expires_at FROM client_secrets
      WHERE tenant_id = $1 AND client_id = $2 AND (expires_at IS NULL OR expires_at > now())
      ORDER BY created_at`,
    [tenantId, client.id],
  );
  const expiring = live.find((s) => s.expires_at !== null);
  if (live.length >= MAX_LIVE_SECRETS && graceSeconds > 0 && expiring)
    throw new TooManyLiveSecretsError(iso(expiring.expires_at) as string);
  await tx.query(
    `UPDATE client_secrets SET expires_at = LEAST(coalesce(expires_at, now() + make_interval(secs => $3)), now() + make_interval(secs => $3))
      WHERE tenant_id = $1 AND client_id = $2 AND (expires_at IS NULL OR expires_at > now())`,
    [tenantId, client.id, graceSeconds],
  );
  const clientSecret = generateClientSecret();
  await tx.query(`INSERT INTO client_secrets (tenant_id, client_id, secret_hash) VALUES ($1, $2, $3)`, [
    tenantId,
    client.id,
    hashClientSecret(clientSecret),
  ]);
  await tx.query(`UPDATE clients SET updated_at = now() WHERE tenant_id = $1 AND id = $2`, [tenantId, client.id]);
  return { clientSecret };
}
