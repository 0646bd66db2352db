/**
 * /readyz fails while the change listener is disconnected (a change made elsewhere meanwhile would
 * leave this instance's caches stale) and recovers on the reconnect, which drops every cache.
 *
 * A second app, built by the same createApp, shares the booted server's database for everything
 * but LISTEN, which goes through a loopback TCP proxy: resetting the proxy cuts only the listener,
 * so the database check of /readyz keeps passing and the 503 can only come from the listener.
 * Postgres only (PGlite's LISTEN is in process): skipped without TEST_DATABASE_URL.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { PROBLEM_TYPE_BASE } from '../../src/http/problem.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createApp } from '../../src/server.ts';
import { requestClientCredentials } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { loopbackFetch, startTestServer, type TestServer } from '../helpers/server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

describe.skipIf(!process.env.TEST_DATABASE_URL)('/readyz and the change listener (Postgres)', () => {
  let server: TestServer;
  let proxy: TcpProxy;
  let listening: Database;
  let httpServer: http.Server;
  let stopListening: () => Promise<void>;
  let base: string;

  beforeAll(async () => {
    server = await startTestServer('postgres');
    const target = new URL(server.config.databaseUrl as string);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    listening = await createDatabase({ databaseUrl: proxy.urlFor(server.config.databaseUrl as string), settings: server.config.database });
    const app = createApp({
      config: server.config,
      db: { ...server.booted.db, listen: listening.listen },
      log: createLogger('silent'),
      keyEncryption: server.booted.keyEncryption,
    });
    stopListening = await app.startInvalidation();
    httpServer = http.createServer(app.app.callback());
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    base = `127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await stopListening?.();
    httpServer?.closeAllConnections();
    await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
    await listening?.close();
    await proxy?.close();
    await server?.close();
  });

  const ready = async () => {
    const response = await loopbackFetch(`http://${base}/readyz`);
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as unknown };
  };

  it('answers 503 naming the listener while it is disconnected, and 200 once it is back, with the caches dropped', async () => {
    const acme = server.credential('production', 'acme');
    const tokenEndpoint = acme.token_endpoint.replace(/:\d+\//, `:${base.split(':')[1]}/`);
    const token = () => requestClientCredentials(tokenEndpoint, acme.client_id, acme.client_secret);
    expect(await ready()).toEqual({
      status: 200,
      retryAfter: null,
      body: {
        status: 'ready',
        database: 'postgres',
        rate_limits: { store: 'memory', shared: false, detail: 'REDIS_URL is not set: limits and quotas are counted per instance' },
      },
    });
    expect((await token()).status).toBe(200); // the tenant is cached as active

    proxy.setMode('reset'); // the LISTEN connection is cut, and every reconnect attempt refused
    await eventually(async () =>
      expect(await ready()).toEqual({
        status: 503,
        retryAfter: '1',
        body: {
          type: `${PROBLEM_TYPE_BASE}service-unavailable`,
          title: 'Service Unavailable',
          status: 503,
          detail:
            'The change listener (LISTEN tenant_connect_changes) is disconnected: cached tenants, clients and keys may be stale until it reconnects.',
        },
      }),
    );
    // a change this instance cannot hear: its notification is lost
    await server.booted.db.admin.query(`UPDATE tenants SET status = 'SUSPENDED' WHERE environment = 'production' AND slug = 'acme'`);
    expect((await ready()).status).toBe(503);

    proxy.setMode('forward');
    // the listener retries within a second; the reconnect drops every cache
    await eventually(async () => expect((await ready()).status).toBe(200), 3000);
    expect(await token()).toEqual({ status: 400, body: { error: 'unauthorized_client', error_description: 'tenant is not active' } });
  });
});
