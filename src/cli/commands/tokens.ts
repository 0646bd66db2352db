/** tokens revoke, clients revoke-tokens */
import { apiPath } from '../admin-client.ts';
import type { ClientTokensRevocation, TokenRevocation } from '../../admin/admin-contract.ts';
import { defineCommand, type Command } from '../command.ts';
import { readOptions } from '../option-values.ts';
import { formatDate } from '../output.ts';

export const tokenCommands: Command[] = [
  defineCommand({
    path: ['tokens', 'revoke'],
    summary: 'Revoke one access token by its jti: the APIs refuse it within a second.',
    args: ['tenant', 'jti'],
    notes: 'The jti is the token\'s "jti" claim (decode the token, or read it from the introspection endpoint).',
    async run(ctx) {
      const revocation = await ctx
        .api()
        .post<TokenRevocation>(apiPath`/tenants/${ctx.args.tenant as string}/tokens/revoke`, { jti: ctx.args.jti });
      ctx.out.result(
        revocation,
        () => `Token ${revocation.jti} of ${ctx.args.tenant} is revoked (listed until ${formatDate(revocation.revoked_until)}).\n`,
      );
    },
  }),
  defineCommand({
    path: ['clients', 'revoke-tokens'],
    summary: 'Revoke every token a client was issued up to a second (default now); the client keeps working.',
    args: ['tenant', 'client_id'],
    options: {
      'issued-before': {
        type: 'string',
        value: 'instant',
        description: 'revoke tokens issued at or before this second: 2026-01-31T12:00:00Z, or a duration ago (10m) (default: now)',
      },
    },
    notes: 'After a leaked secret: clients rotate-secret --expires-in 0, then clients revoke-tokens. Tokens issued in a later second work.',
    async run(ctx) {
      const o = readOptions(ctx.options, 'clients revoke-tokens');
      const issuedBefore = o.instant('issued-before', ctx.now());
      const revocation = await ctx
        .api()
        .post<ClientTokensRevocation>(
          apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}/revoke-tokens`,
          issuedBefore === undefined ? {} : { issued_before: issuedBefore },
        );
      ctx.out.result(
        revocation,
        () => `Tokens of client ${revocation.client_id} issued at or before ${formatDate(revocation.issued_before)} are revoked.\n`,
      );
    },
  }),
];
