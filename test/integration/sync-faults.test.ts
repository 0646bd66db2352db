/**
 * Syncing and retention when the database cannot answer: the events feed answers a 503 problem
 * with Retry-After and pages again once the database is back; a retention run fails without
 * crashing the process or leaving its lease to block the next run, and the next run trims what is
 * expired. The fault is a loopback TCP proxy that resets every connection. Postgres only (PGlite
 * has no connection to break); the same job losing a batch mid-run is in retention.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionJob } from '../../src/admin/operator/retention-job.ts';
import { uuidv7 } from '../../src/db/ids.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, type TestServer } from '../helpers/server.ts';
import { startServerBehindFaultProxy, type ServerBehindFaultProxy } from '../helpers/server-behind-fault-proxy.ts';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';

const adminUrl = process.env.TEST_DATABASE_URL;

describe.skipIf(!adminUrl)('the events feed and the retention job with the database unreachable (Postgres)', () => {
  let faulty: ServerBehindFaultProxy;
  let proxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    faulty = await startServerBehindFaultProxy(adminUrl as string, { RETENTION_WORKER: 'false' });
    ({ proxy, server } = faulty);
  });
  afterAll(async () => {
    await faulty?.close();
  });

  it('answers the feed with a 503 problem and Retry-After while the database is down, and pages again after', async () => {
    const acme = server.credential('sandbox', 'acme');
    const token = await accessToken(server, acme);
    const read = async () => {
      const response = await server.fetch(`${acme.api_base}/events?limit=1`, { headers: { authorization: `Bearer ${token}` } });
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as Record<string, unknown>,
      };
    };
    expect((await read()).status).toBe(200);

    proxy.setMode('reset');
    const refused = await read();
    expect(refused).toMatchObject({
      status: 503,
      type: expect.stringContaining('application/problem+json'),
      body: { type: 'https://tenant-connect.dev/problems/service-unavailable', status: 503 },
    });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);

    proxy.setMode('forward');
    await eventually(async () => expect((await read()).status).toBe(200), 10_000);
  });

  it('fails a retention run without crashing or keeping the lease from the next run, which trims what is expired', async () => {
    const { db } = server.booted;
    const [tenant] = await db.admin.query<{ id: string }>(`SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`);
    const tenantId = tenant?.id ?? '';
    const expired = uuidv7();
    await db.admin.scoped(tenantId, (tx) =>
      tx.query(
        `INSERT INTO tombstones (tenant_id, collection, id, deleted_at, version) VALUES ($1, 'employees', $2, now() - interval '31 days', 1)`,
        [tenantId, expired],
      ),
    );
    const job = createRetentionJob({ db, log: createLogger('silent'), config: server.config.retention, now: Date.now });

    proxy.setMode('reset');
    await expect(job.runOnce()).rejects.toThrow();

    proxy.setMode('forward');
    // the lease is this instance's if the release could not reach the database: its next run holds it again
    await eventually(async () => expect(await job.runOnce()).toMatchObject({ tombstones: 1 }), 10_000);
    const left = await db.admin.scoped(tenantId, (tx) => tx.query(`SELECT 1 FROM tombstones WHERE id = $1`, [expired]));
    expect(left).toEqual([]);
    expect(await db.admin.query(`SELECT 1 FROM job_leases WHERE name = 'retention'`)).toEqual([]);
  });
});
