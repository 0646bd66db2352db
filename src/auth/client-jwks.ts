/**
 * A private_key_jwt client's public keys (RFC 7523): checked when registered, and, for a jwks_uri,
 * fetched by this server through the SSRF address guard and cached per client.
 *
 * Why this server fetches a jwks_uri itself and hands oidc-provider the keys as inline `jwks`:
 * oidc-provider's own fetch has a fixed 2.5 s timeout, a special-use-address check that cannot be
 * told loopback is allowed in development, and keeps a set for max(60 s, the response's max-age or
 * Expires), with no upper bound; its key store lives on a Client object, so its cache and its
 * refresh-on-unknown-kid pacing start over whenever a Client is rebuilt. Here: the webhook address
 * guard at every fetch (by the address connected to), 5 s, 64 KiB, at most 10 minutes, and an
 * unknown `kid` refetches at most once a minute per client (remote-jwks-policy.ts).
 */
import { createPublicKey } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import { CLIENT_ASSERTION_ALGORITHMS, CLIENT_JWKS_FETCH, MAX_CLIENT_KEYS } from '../catalog/client-auth-methods.ts';
import { assertAddressAllowed, guardedLookup, urlProblem } from '../http/address-guard.ts';
import type { Change } from '../tenancy/change-notifications.ts';
import { isFreshSet, type RemoteJwksEntry, remoteJwksAction } from './remote-jwks-policy.ts';

/** JWK members that only a private (or symmetric) key has. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const KEY_TYPES = ['EC', 'OKP', 'RSA'];

/** undefined if `value` is a JWK Set of public signing keys a client may register, else why not. */
export function clientJwksProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    return 'must be a JWK Set: an object with a "keys" array';
  }
  const keys = (value as { keys: unknown[] }).keys;
  if (keys.length === 0) return 'must hold at least one key';
  if (keys.length > MAX_CLIENT_KEYS) return `must hold at most ${MAX_CLIENT_KEYS} keys`;
  const kids = new Set<string>();
  for (const [i, key] of keys.entries()) {
    const problem = publicKeyProblem(key);
    if (problem) return `keys[${i}] ${problem}`;
    const kid = (key as JWK).kid;
    if (kid !== undefined) {
      if (kids.has(kid)) return `keys[${i}] repeats kid "${kid}"`;
      kids.add(kid);
    }
  }
  return undefined;
}

function publicKeyProblem(key: unknown): string | undefined {
  if (typeof key !== 'object' || key === null || Array.isArray(key)) return 'is not a JWK object';
  const jwk = key as Record<string, unknown>;
  const secret = PRIVATE_MEMBERS.find((m) => m in jwk);
  if (secret) return `holds the private member "${secret}": register the public key only`;
  if (!KEY_TYPES.includes(jwk.kty as string)) return `has kty ${JSON.stringify(jwk.kty)}; expected one of ${KEY_TYPES.join(', ')}`;
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length === 0 || jwk.kid.length > 200))
    return 'has a kid that is not a short string';
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'has a "use" other than "sig"';
  if (jwk.alg !== undefined && !(CLIENT_ASSERTION_ALGORITHMS as readonly unknown[]).includes(jwk.alg))
    return `has alg ${JSON.stringify(jwk.alg)}; expected one of ${CLIENT_ASSERTION_ALGORITHMS.join(', ')}`;
  try {
    createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch {
    return 'is not a valid public key';
  }
  return undefined;
}

/** undefined if `uri` may be registered as a jwks_uri (https; loopback only where allowed), else why not. */
export function jwksUriProblem(uri: string, allowLoopback: boolean): string | undefined {
  return urlProblem(uri, allowLoopback);
}

/** Why a client's keys could not be had: the token endpoint logs it and answers invalid_client. */
export class ClientKeysUnavailableError extends Error {
  override name = 'ClientKeysUnavailableError';
}

export interface JwksFetchOptions {
  readonly allowLoopback: boolean;
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

/** One GET of a jwks_uri through the address guard: no redirects, bounded in time and size, a valid public set. */
export async function fetchClientJwks(uri: string, options: JwksFetchOptions): Promise<JWK[]> {
  const registered = urlProblem(uri, options.allowLoopback);
  if (registered) throw new ClientKeysUnavailableError(`jwks_uri ${registered}`);
  const url = new URL(uri);
  assertAddressAllowed(url, options.allowLoopback);
  const secure = url.protocol === 'https:';
  const body = await new Promise<Buffer>((resolve, reject) => {
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json', 'user-agent': 'tenant-connect-jwks/1' },
      lookup: guardedLookup(options.allowLoopback) as never,
      agent: false,
    });
    const timer = setTimeout(() => request.destroy(new Error(`no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        request.destroy(new Error(`answered ${response.statusCode} (expected 200; redirects are not followed)`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) request.destroy(new Error(`answered more than ${options.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
    });
    request.end();
  }).catch((error: unknown) => {
    throw new ClientKeysUnavailableError(`jwks_uri fetch failed: ${(error as Error).message}`, { cause: error });
  });
  let set: unknown;
  try {
    set = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ClientKeysUnavailableError('jwks_uri did not answer JSON');
  }
  const problem = clientJwksProblem(set);
  if (problem) throw new ClientKeysUnavailableError(`jwks_uri set ${problem}`);
  return (set as { keys: JWK[] }).keys;
}

export interface RemoteJwksOptions extends JwksFetchOptions {
  readonly maxAgeMs: number;
  readonly refreshIntervalMs: number;
  /** clients whose fetched set is kept */
  readonly max: number;
  readonly now?: () => number;
  /** the fetch itself (tests count calls through it) */
  readonly fetch?: (uri: string, options: JwksFetchOptions) => Promise<JWK[]>;
}

/**
 * The fetched key sets of jwks_uri clients, per (tenant, client), bounded. `keysFor` answers the
 * cached set, or fetches when the policy says so; concurrent requests for one client share a fetch.
 */
export function createRemoteJwks(options: RemoteJwksOptions) {
  const now = options.now ?? Date.now;
  const fetchSet = options.fetch ?? fetchClientJwks;
  const entries = new LRUCache<string, RemoteJwksEntry<JWK>>({ max: options.max });
  const pending = new Map<string, Promise<RemoteJwksEntry<JWK>>>();
  // bumped by every invalidation: a fetch that started before a set-keys call stores nothing
  let generation = 0;

  function refetch(key: string, uri: string, previous: RemoteJwksEntry<JWK> | undefined): Promise<RemoteJwksEntry<JWK>> {
    let running = pending.get(key);
    if (running) return running;
    const started = generation;
    const attemptedAt = now();
    running = fetchSet(uri, options)
      .then(
        (keys): RemoteJwksEntry<JWK> => ({ uri, keys, fetchedAt: attemptedAt, attemptedAt, error: undefined }),
        (error: unknown): RemoteJwksEntry<JWK> => ({
          uri,
          // a failed refresh keeps a set that is still inside its maximum age
          keys: previous?.uri === uri ? previous.keys : undefined,
          fetchedAt: previous?.uri === uri ? previous.fetchedAt : undefined,
          attemptedAt,
          error: (error as Error).message,
        }),
      )
      .then((entry) => {
        if (started === generation) entries.set(key, entry);
        return entry;
      })
      .finally(() => pending.delete(key));
    pending.set(key, running);
    return running;
  }

  return {
    /** The client's current public keys; `kid` is the one its assertion names (an unknown one may refetch). */
    async keysFor(tenantId: string, clientId: string, uri: string, kid: string | undefined): Promise<readonly JWK[]> {
      const key = `${tenantId}\u0000${clientId}`;
      let entry = entries.get(key);
      const action = remoteJwksAction(entry, {
        uri,
        kid,
        now: now(),
        maxAgeMs: options.maxAgeMs,
        refreshIntervalMs: options.refreshIntervalMs,
      });
      if (action === 'fetch') entry = await refetch(key, uri, entry);
      if (!entry?.keys || !isFreshSet(entry, uri, now(), options.maxAgeMs)) {
        throw new ClientKeysUnavailableError(entry?.error ?? 'the jwks_uri set is older than its maximum age');
      }
      return entry.keys;
    },
    /** A client's change (set-keys, a new jwks_uri) drops its fetched set: the next request fetches. */
    onChange(change: Change): void {
      if (change.kind !== 'client') return;
      generation += 1;
      const prefix = `${change.tenant}\u0000`;
      if (change.id !== null) entries.delete(`${prefix}${change.id}`);
      else for (const key of [...entries.keys()]) if (key.startsWith(prefix)) entries.delete(key);
    },
    clear(): void {
      generation += 1;
      entries.clear();
    },
  };
}
export type RemoteJwks = ReturnType<typeof createRemoteJwks>;

/** The fetch limits of the rules, with this deployment's loopback setting. */
export function remoteJwksOptions(allowLoopback: boolean, max: number): RemoteJwksOptions {
  return { allowLoopback, ...CLIENT_JWKS_FETCH, max };
}
