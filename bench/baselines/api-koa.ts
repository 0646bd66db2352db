/**
 * API baseline: a bare Koa handler that verifies the bearer token with jose (jwtVerify against the
 * tenant's public key, same checks as ours) and runs the same point or list query with pg in a
 * single round trip: no tenant lookup, no transaction, no role switch, no token cache.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import Koa from 'koa';
import pg from 'pg';
import { childOptions, serveChild } from '../child.ts';

export interface ApiBaselineOptions {
  readonly databaseUrl: string;
  readonly tenantId: string;
  readonly issuer: string;
  readonly audience: string;
  readonly publicKeys: JWK[];
  readonly scope: string;
}

export interface ApiBaselineInfo {
  readonly port: number;
}

const COLUMNS = `id, employee_number, first_name, last_name, email,
  to_char(hire_date, 'YYYY-MM-DD') AS hire_date, to_char(termination_date, 'YYYY-MM-DD') AS termination_date,
  org_unit_id, to_json(created_at)#>>'{}' AS created_at, to_json(updated_at)#>>'{}' AS updated_at, version`;
const FIND_ONE = `SELECT ${COLUMNS} FROM employees WHERE tenant_id = $1 AND id = $2`;
const LIST = `SELECT ${COLUMNS} FROM employees WHERE tenant_id = $1 ORDER BY id LIMIT $2`;
const LIST_LIMIT = 50;

serveChild<ApiBaselineInfo>(async () => {
  const options = childOptions<ApiBaselineOptions>();
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
  pool.on('error', () => {});
  const keys = createLocalJWKSet({ keys: options.publicKeys });

  const app = new Koa();
  app.silent = true;
  app.use(async (ctx) => {
    const match = /^Bearer (.+)$/.exec(ctx.get('authorization'));
    if (!match?.[1]) {
      ctx.status = 401;
      return;
    }
    try {
      const { payload } = await jwtVerify(match[1], keys, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      if (
        !String(payload.scope ?? '')
          .split(' ')
          .includes(options.scope)
      ) {
        ctx.status = 403;
        return;
      }
    } catch {
      ctx.status = 401;
      return;
    }
    if (ctx.path === '/api/v1/employees') {
      const { rows } = await pool.query<{ id: string }>(LIST, [options.tenantId, LIST_LIMIT + 1]);
      const page = rows.slice(0, LIST_LIMIT);
      const last = page.at(-1);
      const cursor = last && Buffer.from(JSON.stringify({ after: last.id })).toString('base64url');
      const next = rows.length > LIST_LIMIT && cursor ? `${options.audience}/api/v1/employees?limit=${LIST_LIMIT}&cursor=${cursor}` : null;
      if (next) ctx.set('Link', `<${next}>; rel="next"`);
      ctx.body = { data: page, next };
      return;
    }
    const id = /^\/api\/v1\/employees\/([0-9a-f-]{36})$/.exec(ctx.path)?.[1];
    const { rows } = id ? await pool.query(FIND_ONE, [options.tenantId, id]) : { rows: [] };
    if (!rows[0]) {
      ctx.status = 404;
      return;
    }
    ctx.body = rows[0];
  });

  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    info: { port },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
});
