/**
 * When a client's jwks_uri is fetched again (pure; client-jwks.ts does the fetching). A set is
 * used for at most `maxAgeMs`; an assertion naming a kid the set lacks refetches, but at most once
 * per `refreshIntervalMs` per client, so unknown kids cannot make this server hammer a client's
 * host (nor a failing host be asked on every token request).
 */
export interface RemoteJwksEntry<Key> {
  readonly uri: string;
  /** the last set fetched successfully from this uri, if any */
  readonly keys: readonly Key[] | undefined;
  /** when `keys` was fetched (epoch ms) */
  readonly fetchedAt: number | undefined;
  /** when the last fetch, successful or not, started */
  readonly attemptedAt: number;
  /** why the last fetch failed, if it did */
  readonly error: string | undefined;
}

export interface RemoteJwksQuestion {
  readonly uri: string;
  /** the kid the assertion names, if any */
  readonly kid: string | undefined;
  readonly now: number;
  readonly maxAgeMs: number;
  readonly refreshIntervalMs: number;
}

/** True while the entry's set may be used: fetched from this uri, less than maxAgeMs ago. */
export function isFreshSet<Key>(entry: RemoteJwksEntry<Key> | undefined, uri: string, now: number, maxAgeMs: number): boolean {
  return entry?.uri === uri && entry.keys !== undefined && entry.fetchedAt !== undefined && now - entry.fetchedAt < maxAgeMs;
}

/** 'fetch' when the set must be fetched (again) before answering, 'use' to answer from the entry. */
export function remoteJwksAction<Key extends { kid?: string }>(
  entry: RemoteJwksEntry<Key> | undefined,
  q: RemoteJwksQuestion,
): 'fetch' | 'use' {
  if (entry?.uri !== q.uri) return 'fetch';
  const mayRetry = q.now - entry.attemptedAt >= q.refreshIntervalMs;
  if (!isFreshSet(entry, q.uri, q.now, q.maxAgeMs)) {
    // an expired set is fetched as soon as it expires (the attempt that fetched it is that old);
    // a fetch that failed is retried at most once per interval
    return mayRetry ? 'fetch' : 'use';
  }
  if (q.kid !== undefined && !entry.keys?.some((k) => k.kid === q.kid)) return mayRetry ? 'fetch' : 'use';
  return 'use';
}
