/**
 * Token baseline: bare oidc-provider, nothing of ours. One static in-memory client
 * (client_credentials, client_secret_basic), an ES256 key, JWT access tokens for one audience via
 * resourceIndicators. Served at the same path as ours, so the load is byte-for-byte the same shape.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import { childOptions, serveChild } from '../child.ts';

export interface TokenBaselineOptions {
  /** the API origin our server would put in `aud` */
  readonly audience: string;
  readonly issuerOrigin: string;
  readonly slug: string;
  readonly scope: string;
}

export interface TokenBaselineInfo {
  readonly port: number;
  readonly tokenPath: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

serveChild<TokenBaselineInfo>(async () => {
  const options = childOptions<TokenBaselineOptions>();
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const signingKey = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' };
  const clientId = 'baseline-client';
  const clientSecret = `tcs_${randomBytes(32).toString('base64url')}`;
  const tokenPath = `/tenants/${options.slug}/connect/token`;

  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: options.scope,
        // the only key is ES256; oidc-provider's default (RS256) would have no key to sign with
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingKey as never] },
    scopes: [options.scope],
    responseTypes: [],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: options.scope,
          audience: options.audience,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    routes: { token: tokenPath },
  };
  const provider = new Provider(`${options.issuerOrigin}/tenants/${options.slug}`, configuration);
  const server = http.createServer(provider.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    info: { port, tokenPath, clientId, clientSecret },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
});
