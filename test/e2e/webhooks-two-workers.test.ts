/**
 * Two server processes with delivery workers on one Postgres share 1,000 deliveries: each
 * delivery is claimed by one of them (FOR UPDATE SKIP LOCKED, then leased), so no event arrives
 * twice within its lease and none is lost.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { demoCredentials, platformAdminCredential, startChildServer } from '../helpers/child-server.ts';
import { createFreshDatabase } from '../helpers/databases.ts';
import { issuedAccessToken } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { loopbackFetch } from '../helpers/server.ts';
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts';

const EVENTS = 1000;
const CONCURRENCY = 8;
/** one subscription gets a quarter of a worker's lanes, hence at most this many connections */
const LANES_PER_SUBSCRIPTION = CONCURRENCY / 4;

async function post(url: string, bearer: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await loopbackFetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe.runIf(process.env.TEST_DATABASE_URL)('two delivery workers on one Postgres', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it(`deliver ${EVENTS} events, each exactly once (no lease expires), none lost`, async () => {
    const receiver = await startWebhookReceiver();
    cleanup.push(() => receiver.close());
    receiver.reply = () => ({ status: 204, delayMs: 10 });
    const database = await createFreshDatabase('postgres');
    cleanup.push(() => database.drop());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-workers-'));
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = {
      DATA_DIR: dataDir,
      DATABASE_URL: database.url as string,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      WEBHOOK_LEASE_MS: '30000',
      WEBHOOK_CONCURRENCY: String(CONCURRENCY),
      WEBHOOK_POLL_MS: '200',
    };

    // the events, written while no worker runs
    const setup = await startChildServer({ ...env, WEBHOOK_WORKER: 'false' });
    cleanup.push(() => setup.kill());
    const admin = platformAdminCredential(dataDir);
    const adminToken = await issuedAccessToken(admin.token_endpoint, admin.client_id, admin.client_secret);
    expect(
      (await post(`${admin.admin_api}/tenants/acme/webhooks`, adminToken, { url: receiver.url, event_types: ['clocking.created'] })).status,
    ).toBe(201);
    const acme = demoCredentials(dataDir).find((c) => c.environment === 'production' && c.tenant === 'acme');
    if (!acme) throw new Error('no demo credential for acme');
    const apiToken = await issuedAccessToken(acme.token_endpoint, acme.client_id, acme.client_secret, acme.scope);
    const employee = await post(`${acme.api_base}/employees`, apiToken, {
      employee_number: 'TW-1',
      first_name: 'Two',
      last_name: 'Workers',
    });
    const batch = await post(`${acme.api_base}/clockings/batch`, apiToken, {
      items: Array.from({ length: EVENTS }, (_, i) => ({
        employee_id: employee.body.id,
        timestamp: new Date(Date.UTC(2026, 3, 1) + i * 60_000).toISOString(),
        direction: i % 2 ? 'out' : 'in',
      })),
    });
    expect(batch.status).toBe(201);
    await setup.stop();

    // two instances start together on the same database, both delivering
    const workers = await Promise.all(
      [1, 2].map(() => startChildServer({ ...env, SEED_DEMO: 'false', BOOTSTRAP_ADMIN: 'false', WEBHOOK_WORKER: 'true' })),
    );
    for (const w of workers) cleanup.push(() => w.kill());
    await eventually(async () => expect(receiver.received.length).toBeGreaterThanOrEqual(EVENTS), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // anything late would show now

    const perEvent = new Map<string, number>();
    for (const r of receiver.received) perEvent.set(r.headers['webhook-id'] ?? '', (perEvent.get(r.headers['webhook-id'] ?? '') ?? 0) + 1);
    expect(perEvent.size).toBe(EVENTS);
    expect([...perEvent.values()].filter((n) => n > 1)).toEqual([]);
    const clockings = new Set(receiver.received.map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
    expect(clockings).toEqual(new Set(batch.body.ids as string[]));
    // both processes delivered: one worker holds at most LANES_PER_SUBSCRIPTION connections to it
    expect(new Set(receiver.received.map((r) => r.remotePort)).size).toBeGreaterThan(LANES_PER_SUBSCRIPTION);

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ status: string; attempts: number; n: number }>(
        `SELECT status, attempts, count(*)::int AS n FROM webhook_deliveries GROUP BY 1, 2`,
      );
      expect(rows).toEqual([{ status: 'delivered', attempts: 1, n: EVENTS }]);
      expect((await client.query('SELECT 1 FROM webhook_schedule')).rowCount).toBe(0);
    } finally {
      await client.end();
    }
    await Promise.all(workers.map((w) => w.stop()));
  }, 180_000);
});
