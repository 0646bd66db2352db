/**
 * The JWS algorithms a DPoP proof may use (RFC 9449): asymmetric only, as the proof is verified
 * with the public key it carries. The token endpoint, the APIs and discovery share the list.
 * Ed25519 is the fully-specified name of EdDSA over Ed25519 (RFC 9864) that current clients send.
 */
export const DPOP_SIGNING_ALGORITHMS = ['ES256', 'Ed25519', 'EdDSA', 'PS256', 'RS256'] as const;
