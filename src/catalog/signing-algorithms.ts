/** The JWS algorithms a tenant's signing keys may use: keys, tenant settings, the Provider and token checks share the list. */
export const SIGNING_ALGORITHMS = ['ES256', 'EdDSA', 'PS256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
