/**
 * How a client authenticates at the token endpoint: one registered method per client. The
 * Provider's configuration, the admin API's schemas and the CLI's choices share the list.
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
/** The method of a client created without one (RFC 7591's default too). */
export const DEFAULT_CLIENT_AUTH_METHOD: ClientAuthMethod = 'client_secret_basic';
/** The methods that present a shared secret (a client of these gets one at creation). */
export const SECRET_AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

/**
 * private_key_jwt (RFC 7523): the JWS algorithms a client assertion may be signed with. Asymmetric
 * only: never `none`, never an HMAC (a public key must never become an HMAC secret).
 */
export const CLIENT_ASSERTION_ALGORITHMS = ['ES256', 'EdDSA', 'PS256', 'RS256'] as const;
/** A jwks_uri's set: fetched with this timeout, at most this many bytes, kept at most this long. */
export const CLIENT_JWKS_FETCH = { timeoutMs: 5000, maxBytes: 64 * 1024, maxAgeMs: 10 * 60_000, refreshIntervalMs: 60_000 } as const;
/** An inline or fetched client key set holds at most this many keys. */
export const MAX_CLIENT_KEYS = 20;
