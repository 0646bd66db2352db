/** keys list | rotate, kek rotate | generate */
import crypto from 'node:crypto';
import { SIGNING_ALGORITHMS } from '../../catalog/signing-algorithms.ts';
import { apiPath, type Page } from '../admin-client.ts';
import type { KeyRotationResult, SigningKey } from '../../admin/admin-contract.ts';
import { defineCommand, type Command } from '../command.ts';
import { UsageError } from '../errors.ts';
import { readOptions } from '../option-values.ts';
import { formatCount, formatDate, formatTable, type Column } from '../output.ts';

export const KEY_COLUMNS: readonly Column<SigningKey>[] = [
  { header: 'KID', value: (k) => k.kid },
  { header: 'ALG', value: (k) => k.alg },
  { header: 'STATE', value: (k) => k.state },
  { header: 'PUBLISHED', value: (k) => k.published },
  { header: 'CREATED', value: (k) => k.created_at },
  { header: 'PROMOTE AT', value: (k) => k.promote_at },
  { header: 'RETIRED', value: (k) => k.retired_at },
  { header: 'NOT AFTER', value: (k) => k.not_after },
];

export const keyCommands: Command[] = [
  defineCommand({
    path: ['keys', 'list'],
    summary: "List a tenant's signing keys (next, current, retired).",
    args: ['tenant'],
    async run(ctx) {
      const page = await ctx.api().get<Page<SigningKey>>(apiPath`/tenants/${ctx.args.tenant as string}/keys`);
      if (ctx.out.json) return ctx.out.result(page, () => undefined);
      ctx.out.table(KEY_COLUMNS, page.data, 'No keys.');
    },
  }),
  defineCommand({
    path: ['keys', 'rotate'],
    summary: "Rotate a tenant's signing key: a new key is published first and signs after the delay.",
    args: ['tenant'],
    options: {
      delay: {
        type: 'string',
        value: 'duration',
        description: 'publish now, start signing after this long (seconds, 1h, 1d; server default if omitted)',
      },
      now: {
        type: 'boolean',
        description: 'start signing with the new key at once (tokens cached by verifiers may fail until they refetch the JWKS)',
      },
      alg: {
        type: 'string',
        value: 'alg',
        description: `algorithm of the new key: ${SIGNING_ALGORITHMS.join(', ')} (default: the tenant's)`,
      },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'keys rotate');
      const delay = o.duration('delay');
      const now = o.flag('now');
      if (now && delay !== undefined) throw new UsageError('give either --now or --delay, not both', 'keys rotate');
      const result = await ctx.api().post<KeyRotationResult>(apiPath`/tenants/${ctx.args.tenant as string}/keys/rotate`, {
        delay_seconds: delay,
        immediate: now ? true : undefined,
        alg: o.choice('alg', SIGNING_ALGORITHMS),
      });
      ctx.out.result(result, () => {
        const when =
          result.key.state === 'current'
            ? 'signs from now on'
            : `is published now and signs from ${result.key.promote_at ? formatDate(result.key.promote_at) : 'its promotion'}`;
        return `New key ${result.key.kid} (${result.key.alg}) ${when}.\n\n${formatTable(KEY_COLUMNS, [result.key, ...result.retired])}`;
      });
    },
  }),
  defineCommand({
    path: ['kek', 'rotate'],
    summary:
      'Re-encrypt every signing key under the current KEY_ENCRYPTION_KEY (after changing it; the old one stays in KEY_ENCRYPTION_KEY_PREVIOUS).',
    async run(ctx) {
      ctx.out.progress.update('re-encrypting signing keys under the current key-encryption key…');
      const result = await ctx
        .api()
        .post<{ tenants: number; reencrypted: number; already_current: number }>('/key-encryption-key/rotate', {}, { timeoutMs: 600_000 })
        .finally(() => ctx.out.progress.done());
      ctx.out.result(
        result,
        () =>
          `Re-encrypted ${formatCount(result.reencrypted, 'signing key')} across ${formatCount(result.tenants, 'tenant')} (${result.already_current} ${result.already_current === 1 ? 'was' : 'were'} already current).\n`,
      );
    },
  }),
  defineCommand({
    path: ['kek', 'generate'],
    summary: 'Print a new random key-encryption key for KEY_ENCRYPTION_KEY (local; no server).',
    local: true,
    notes: 'With --json it prints {"key": "…"}.',
    async run(ctx) {
      const key = crypto.randomBytes(32).toString('base64url');
      ctx.out.result({ key }, () => `${key}\n`);
    },
  }),
];
