/**
 * Revoking access tokens without the token in hand: one by its jti, or every token a client was
 * issued up to a second (after a leaked secret: rotate it, then revoke what is outstanding) while
 * the client itself keeps working. Platform admins, or the tenant's own tenant:admin client. Each
 * is audited in the transaction that lists it; every instance refuses the tokens within a second,
 * when the change notification of the insert reaches it (tenancy/token-revocations.ts).
 */
import { findClients } from '../auth/clients.ts';
import type { JsonSchema } from '../catalog/collections.ts';
import { ApiError } from '../http/problem.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { insertClientCutoff, insertRevokedToken, operatorRevocationExpiry } from '../tenancy/token-revocations.ts';
import type { ClientTokensRevocation, TokenRevocation } from './admin-contract.ts';
import { type AdminContext, type AdminDeps, adminRoute, audit, findRouteTenant } from './admin-steps.ts';

const timestamp = { type: 'string', format: 'date-time' };

const TOKEN_REVOKE: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { jti: { type: 'string', minLength: 1, maxLength: 256, description: 'the jti claim of the access token' } },
  required: ['jti'],
};
const TOKEN_REVOCATION: JsonSchema = {
  type: 'object',
  properties: { jti: { type: 'string' }, revoked_until: { ...timestamp, description: 'listed until then: no token lives longer' } },
  required: ['jti', 'revoked_until'],
};
const CLIENT_TOKENS_REVOKE: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    issued_before: {
      ...timestamp,
      description: 'tokens issued (iat) at or before this second are refused; default: now. Not in the future.',
    },
  },
};
const CLIENT_TOKENS_REVOCATION: JsonSchema = {
  type: 'object',
  properties: {
    client_id: { type: 'string' },
    issued_before: { ...timestamp, description: 'the cutoff in force: a later one asked before is kept' },
  },
  required: ['client_id', 'issued_before'],
};

const toSeconds = (ms: number) => Math.floor(ms / 1000);
const toTimestamp = (seconds: number) => new Date(seconds * 1000).toISOString();

/** The requested cutoff second; the future is refused (that would disable the client, which has its own endpoint). */
function cutoffSecond(issuedBefore: unknown, now: number): number {
  if (issuedBefore === undefined) return now;
  const second = toSeconds(Date.parse(issuedBefore as string));
  if (second > now) {
    throw new ApiError('validation-failed', 'issued_before must not be in the future; to stop new tokens too, disable the client.', {
      members: { errors: [{ pointer: '/issued_before', detail: 'is in the future' }] },
    });
  }
  return second;
}

export function tokenRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  const { db } = deps;
  const tags = ['Tokens'];

  return [
    adminRoute({
      method: 'post',
      path: '/tenants/:slug/tokens/revoke',
      operationId: 'revokeToken',
      summary: 'Revoke one access token by its jti; refused everywhere within a second',
      tags,
      tenantAdmin: true,
      body: { schema: TOKEN_REVOKE },
      responses: { 200: { description: 'listed until no such token can still be valid', schema: TOKEN_REVOCATION } },
      handler: async function revokeTokenByJti(ctx, { body }) {
        const tenant = await findRouteTenant(db.admin, ctx, { tenantAdmin: true, platformTenant: true });
        const jti = body.jti as string;
        // no token is stored, so its expiry is unknown: listed as long as any token may live
        const exp = operatorRevocationExpiry(toSeconds(Date.now()));
        const revocation: TokenRevocation = { jti, revoked_until: toTimestamp(exp) };
        await db.admin.scoped(tenant.id, async (tx) => {
          await insertRevokedToken(tx, tenant.id, { jti, clientId: null, exp });
          await audit(tx, ctx, { tenant, action: 'token.revoke', target: { type: 'token', id: jti }, after: revocation });
        });
        ctx.body = revocation;
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/clients/:clientId/revoke-tokens',
      operationId: 'revokeClientTokens',
      summary: 'Revoke every token a client was issued up to a second (default now); the client keeps working',
      tags: ['Clients', ...tags],
      tenantAdmin: true,
      body: { schema: CLIENT_TOKENS_REVOKE, optional: true },
      responses: { 200: { description: 'the cutoff in force', schema: CLIENT_TOKENS_REVOCATION } },
      handler: async function revokeClientTokens(ctx, { body }) {
        const clientId = ctx.params.clientId ?? '';
        const issuedBefore = cutoffSecond(body.issued_before, toSeconds(Date.now()));
        const tenant = await findRouteTenant(db.admin, ctx, { tenantAdmin: true, platformTenant: true });
        ctx.body = await db.admin.scoped(tenant.id, async (tx) => {
          const [client] = await findClients(tx, tenant.id, clientId);
          if (!client) throw new ApiError('not-found', `No client "${clientId}" in this tenant.`);
          const inForce = await insertClientCutoff(tx, tenant.id, clientId, issuedBefore);
          const revocation: ClientTokensRevocation = { client_id: clientId, issued_before: toTimestamp(inForce) };
          await audit(tx, ctx, { tenant, action: 'client.revoke_tokens', target: { type: 'client', id: clientId }, after: revocation });
          return revocation;
        });
      },
    }),
  ];
}
