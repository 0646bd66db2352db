/** clients create | list | get | update | set-keys | rotate-secret | disable | enable | delete */
import fs from 'node:fs';
import { CLIENT_AUTH_METHODS, DEFAULT_CLIENT_AUTH_METHOD } from '../../catalog/client-auth-methods.ts';
import { DEFAULT_TOKEN_QUOTA_MODE, TOKEN_QUOTA_MODES, type TokenQuota } from '../../catalog/token-quotas.ts';
import { apiPath, type Page } from '../admin-client.ts';
import type { Client, ClientWithSecret, SecretRotationResult } from '../../admin/admin-contract.ts';
import { defineCommand, type Command, type CommandContext } from '../command.ts';
import { formatDuration } from '../duration.ts';
import { UsageError } from '../errors.ts';
import { type OptionReader, readOptions } from '../option-values.ts';
import { formatRecord, type Column } from '../output.ts';
import { printList } from '../list-output.ts';

export const SECRET_WARNING = 'Store the client_secret now: it will not be shown again.';

export const CLIENT_COLUMNS: readonly Column<Client>[] = [
  { header: 'CLIENT ID', value: (c) => c.client_id },
  { header: 'NAME', value: (c) => c.name },
  { header: 'STATUS', value: (c) => c.status },
  { header: 'SCOPES', value: (c) => c.scopes },
  { header: 'SECRETS', value: (c) => c.secrets?.length },
  { header: 'LAST USED', value: (c) => c.last_used_at },
  { header: 'CREATED', value: (c) => c.created_at },
];

export function clientRecord(c: Client, secret?: string): string {
  const secrets = c.secrets ?? [];
  return formatRecord([
    ['client_id', c.client_id],
    ...(secret === undefined ? [] : [['client_secret', secret] as const]),
    ['name', c.name],
    ['status', c.status],
    ['scopes', c.scopes],
    ['auth method', c.token_endpoint_auth_method],
    ['dpop bound', c.dpop_bound_access_tokens ? 'yes: token requests must carry a DPoP proof' : 'no'],
    ...(c.jwks_uri ? [['jwks_uri', c.jwks_uri] as const] : []),
    ...(c.jwks ? [['keys', c.jwks.keys.map((k) => `${String(k.kty)}${k.kid ? ` kid=${k.kid}` : ''}`).join(', ')] as const] : []),
    ['token ttl', c.access_token_ttl === null || c.access_token_ttl === undefined ? 'tenant default' : `${c.access_token_ttl}s`],
    ['token quota', c.token_quota ? describeTokenQuota(c.token_quota) : 'tenant default'],
    ['last used', c.last_used_at],
    ['disabled', c.disabled_at],
    ['created', c.created_at],
    ['updated', c.updated_at],
    ...secrets.map(
      (s, i) =>
        [
          `secret ${i + 1}`,
          `${s.id}  created ${fmt(s.created_at)}  expires ${fmt(s.expires_at)}  last used ${fmt(s.last_used_at)}`,
        ] as const,
    ),
  ]);
}

/** `100/hour, 2000/day (enforce)`, or `none` for a quota that limits no window */
export function describeTokenQuota(quota: TokenQuota): string {
  const limits = [
    ...(quota.per_hour === undefined ? [] : [`${quota.per_hour}/hour`]),
    ...(quota.per_day === undefined ? [] : [`${quota.per_day}/day`]),
  ];
  return limits.length === 0 ? 'none' : `${limits.join(', ')} (${quota.mode ?? DEFAULT_TOKEN_QUOTA_MODE})`;
}

const TOKEN_QUOTA_HELP = 'per_hour=N,per_day=N,mode=enforce|log (each part optional; mode defaults to enforce)';

/**
 * --token-quota per_hour=100,per_day=2000,mode=log → the admin API's token_quota; `default`
 * (update only) → null, back to the tenant's.
 */
export function readTokenQuota(o: OptionReader, command: string, allowDefault: boolean): TokenQuota | null | undefined {
  const value = o.string('token-quota');
  if (value === undefined) return undefined;
  if (allowDefault && value.trim().toLowerCase() === 'default') return null;
  const fail = (why: string): never => {
    throw new UsageError(`--token-quota ${why}; expected ${TOKEN_QUOTA_HELP}${allowDefault ? ", or 'default'" : ''}`, command);
  };
  const quota: { per_hour?: number; per_day?: number; mode?: TokenQuota['mode'] } = {};
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [key, raw = ''] = part.split('=', 2).map((x) => x.trim());
    if (key === 'per_hour' || key === 'per_day') {
      if (!/^[1-9]\d*$/.test(raw)) fail(`${key} must be a positive whole number (got "${raw}")`);
      quota[key] = Number(raw);
    } else if (key === 'mode') {
      quota.mode =
        TOKEN_QUOTA_MODES.find((m) => m === raw.toLowerCase()) ?? fail(`mode must be ${TOKEN_QUOTA_MODES.join(' or ')} (got "${raw}")`);
    } else fail(`has an unknown part "${part}"`);
  }
  if (Object.keys(quota).length === 0) fail('is empty');
  return quota;
}

function fmt(value: string | null | undefined): string {
  return value ? `${new Date(value).toISOString().slice(0, 19)}Z` : '-';
}

/** the tenant's token endpoint, beside the platform's (or another tenant's) one the CLI uses */
export function tenantTokenUrl(adminTokenUrl: string, slug: string): string | undefined {
  const url = new URL(adminTokenUrl);
  const base = url.pathname.replace(/\/(platform|tenants\/[^/]+)\/connect\/token\/?$/, '');
  if (base === url.pathname) return undefined;
  url.pathname = `${base}/tenants/${encodeURIComponent(slug)}/connect/token`;
  url.search = '';
  return url.toString();
}

function clientAction(action: 'disable' | 'enable', summary: string): Command {
  return defineCommand({
    path: ['clients', action],
    summary,
    args: ['tenant', 'client_id'],
    async run(ctx) {
      const client = await ctx
        .api()
        .post<Client>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}/${action}`);
      ctx.out.result(client, () => `Client ${client.client_id} is ${client.status}.\n`);
    },
  });
}

/** --jwks-file keys.json or --jwks-uri https://…: a private_key_jwt client's public keys, as the API's body members. */
const KEY_OPTIONS = {
  'jwks-file': { type: 'string', value: 'file', description: 'private_key_jwt: a file holding the public JWK Set ({"keys": [...]})' },
  'jwks-uri': { type: 'string', value: 'url', description: 'private_key_jwt: the https URL of the public JWK Set' },
} as const;

function readKeyOptions(o: OptionReader, command: string): { jwks?: unknown; jwks_uri?: string } {
  const file = o.string('jwks-file');
  const uri = o.string('jwks-uri');
  if (file !== undefined && uri !== undefined) throw new UsageError('give --jwks-file or --jwks-uri, not both', command);
  if (uri !== undefined) return { jwks_uri: uri };
  if (file === undefined) return {};
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--jwks-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      command,
    );
  }
  try {
    return { jwks: JSON.parse(text) as unknown };
  } catch {
    throw new UsageError(`--jwks-file: ${file} is not JSON; it must hold a JWK Set: {"keys": [...]}`, command);
  }
}

function printSecret(ctx: CommandContext, value: unknown, human: string, footer = ''): void {
  ctx.out.result(value, () => `${human}\n${footer}${SECRET_WARNING}\n`);
  if (ctx.out.json) ctx.out.note(SECRET_WARNING);
}

export const clientCommands: Command[] = [
  defineCommand({
    path: ['clients', 'create'],
    summary: 'Create a client of a tenant; prints its secret once.',
    args: ['tenant'],
    options: {
      name: { type: 'string', value: 'name', description: 'display name (required)' },
      scopes: { type: 'string', value: 'a,b', description: 'scopes it may ask for, comma-separated (required)' },
      'access-token-ttl': {
        type: 'string',
        value: 'seconds',
        description: "its tokens' lifetime, e.g. 600 or 10m (default: the tenant's)",
      },
      'auth-method': {
        type: 'string',
        value: 'method',
        description: `${CLIENT_AUTH_METHODS.join(' or ')} (default: ${DEFAULT_CLIENT_AUTH_METHOD})`,
      },
      id: { type: 'string', value: 'client_id', description: 'choose its client_id (default: generated)' },
      dpop: { type: 'boolean', description: 'bind its tokens to a key: every token request must carry a DPoP proof (RFC 9449)' },
      ...KEY_OPTIONS,
      'token-quota': {
        type: 'string',
        value: 'quota',
        description: `tokens it may get: ${TOKEN_QUOTA_HELP} (default: the tenant's token_quota)`,
      },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'clients create');
      const keys = readKeyOptions(o, 'clients create');
      const body = {
        name: o.required('name'),
        scopes: o.list('scopes') ?? o.required('scopes'),
        access_token_ttl: o.duration('access-token-ttl'),
        token_quota: readTokenQuota(o, 'clients create', false),
        token_endpoint_auth_method: o.choice('auth-method', CLIENT_AUTH_METHODS),
        client_id: o.string('id'),
        dpop_bound_access_tokens: o.flag('dpop') || undefined,
        ...keys,
      };
      const client = await ctx.api().post<ClientWithSecret>(apiPath`/tenants/${ctx.args.tenant as string}/clients`, body);
      const tokenUrl = tenantTokenUrl(ctx.api().target.tokenUrl, ctx.args.tenant as string);
      const where = tokenUrl ? `Its token endpoint: ${tokenUrl}\n` : '';
      if (client.client_secret === undefined) {
        const how = 'It authenticates with a client assertion signed by its private key (aud: the issuer).';
        ctx.out.result(
          client,
          () => `Created client ${client.client_id} for ${ctx.args.tenant}.\n\n${clientRecord(client)}\n${where}${how}\n`,
        );
        return;
      }
      printSecret(
        ctx,
        client,
        `Created client ${client.client_id} for ${ctx.args.tenant}.\n\n${clientRecord(client, client.client_secret)}`,
        where,
      );
    },
  }),
  defineCommand({
    path: ['clients', 'list'],
    summary: "List a tenant's clients.",
    args: ['tenant'],
    async run(ctx) {
      const api = ctx.api();
      const first = await api.get<Page<Client>>(apiPath`/tenants/${ctx.args.tenant as string}/clients`);
      await printList(ctx, api, first, { columns: CLIENT_COLUMNS, noun: 'client', all: true, empty: 'No clients.' });
    },
  }),
  defineCommand({
    path: ['clients', 'get'],
    summary: 'Show one client, with its live secrets (ids and dates only).',
    args: ['tenant', 'client_id'],
    async run(ctx) {
      const client = await ctx.api().get<Client>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}`);
      ctx.out.result(client, () => clientRecord(client));
    },
  }),
  defineCommand({
    path: ['clients', 'update'],
    summary: "Change a client's name, scopes, token lifetime, token quota, authentication method or DPoP binding.",
    args: ['tenant', 'client_id'],
    options: {
      name: { type: 'string', value: 'name', description: 'new display name' },
      scopes: { type: 'string', value: 'a,b', description: 'the scopes it may ask for from now on (replaces the list)' },
      'access-token-ttl': {
        type: 'string',
        value: 'seconds',
        description: "its tokens' lifetime (600, 10m), or 'default' for the tenant's",
      },
      'auth-method': { type: 'string', value: 'method', description: CLIENT_AUTH_METHODS.join(' or ') },
      dpop: { type: 'string', value: 'on|off', description: 'on: every token request must carry a DPoP proof (RFC 9449)' },
      'token-quota': {
        type: 'string',
        value: 'quota',
        description: `tokens it may get: ${TOKEN_QUOTA_HELP}, or 'default' for the tenant's token_quota`,
      },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'clients update');
      const ttl = o.string('access-token-ttl')?.toLowerCase() === 'default' ? null : o.duration('access-token-ttl');
      const dpopSwitch = o.choice('dpop', ['on', 'off']);
      const body = {
        name: o.string('name'),
        scopes: o.list('scopes'),
        access_token_ttl: ttl,
        token_quota: readTokenQuota(o, 'clients update', true),
        token_endpoint_auth_method: o.choice('auth-method', CLIENT_AUTH_METHODS),
        dpop_bound_access_tokens: dpopSwitch === undefined ? undefined : dpopSwitch === 'on',
      };
      if (Object.values(body).every((v) => v === undefined)) {
        throw new UsageError(
          'nothing to change: give --name, --scopes, --access-token-ttl, --token-quota, --auth-method or --dpop',
          'clients update',
        );
      }
      const client = await ctx
        .api()
        .patch<Client>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}`, body);
      ctx.out.result(client, () => `Updated client ${client.client_id}.\n\n${clientRecord(client)}`);
    },
  }),
  defineCommand({
    path: ['clients', 'set-keys'],
    summary: "Replace a private_key_jwt client's public keys (every instance uses them within a second).",
    args: ['tenant', 'client_id'],
    options: KEY_OPTIONS,
    async run(ctx) {
      const keys = readKeyOptions(readOptions(ctx.options, 'clients set-keys'), 'clients set-keys');
      if (keys.jwks === undefined && keys.jwks_uri === undefined)
        throw new UsageError('give --jwks-file or --jwks-uri', 'clients set-keys');
      const client = await ctx
        .api()
        .put<Client>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}/jwks`, keys);
      ctx.out.result(client, () => `New keys for client ${client.client_id}.\n\n${clientRecord(client)}`);
    },
  }),
  defineCommand({
    path: ['clients', 'rotate-secret'],
    summary: 'Issue a new secret; the old one keeps working for a grace period.',
    args: ['tenant', 'client_id'],
    options: {
      'expires-in': {
        type: 'string',
        value: 'duration',
        description: 'how long the old secret keeps working: seconds, 7d, 12h, 30m; 0 = stops now (server default: 7d)',
      },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'clients rotate-secret');
      const expiresIn = o.duration('expires-in');
      const result = await ctx
        .api()
        .post<SecretRotationResult>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}/rotate-secret`, {
          expires_in: expiresIn,
        });
      const old =
        expiresIn === 0
          ? 'The old secret no longer works.'
          : `The old secret keeps working for ${expiresIn === undefined ? 'the default grace period' : formatDuration(expiresIn)}.`;
      printSecret(ctx, result, `New secret for ${result.client.client_id}. ${old}\n\n${clientRecord(result.client, result.client_secret)}`);
    },
  }),
  clientAction('disable', 'Disable a client: it gets no new tokens and its tokens stop working.'),
  clientAction('enable', 'Enable a disabled client.'),
  defineCommand({
    path: ['clients', 'delete'],
    summary: 'Delete a client for good.',
    args: ['tenant', 'client_id'],
    async run(ctx) {
      await ctx.api().delete<unknown>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}`);
      ctx.out.result(undefined, () => `Deleted client ${ctx.args.client_id}.\n`);
    },
  }),
];
