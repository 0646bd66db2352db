/**
 * How a client authenticates at the token endpoint: one registered method per client. The
 * Provider's configuration, the admin API's schemas and the CLI's choices share the list.
 */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];
/** The method of a client created without one (RFC 7591's default too). */
export const DEFAULT_CLIENT_AUTH_METHOD: ClientAuthMethod = 'client_secret_basic';
