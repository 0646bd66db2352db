/**
 * Nothing lost: the real server as a child process commits changes, is killed with SIGKILL while
 * its first webhook is still in flight (nothing else delivered), and started again on the same
 * database. Every event of a committed change is then delivered at least once, and no event of a
 * rolled back change ever arrives. PGlite persists in DATA_DIR; Postgres is a fresh database.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoCredentials, platformAdminCredential, startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { createFreshDatabase, testDatabaseKinds } from '../helpers/databases.ts';
import { issuedAccessToken } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { loopbackFetch } from '../helpers/server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

async function call(
  url: string,
  bearer: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await loopbackFetch(url, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe.each(testDatabaseKinds())('webhooks across a crash on %s', (kind) => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('delivers every committed event at least once after SIGKILL and a restart, and never a rolled back one', async () => {
    const receiver: WebhookReceiver = await startWebhookReceiver();
    cleanup.push(() => receiver.close());
    const database = await createFreshDatabase(kind);
    cleanup.push(() => database.drop());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-crash-'));
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = {
      DATA_DIR: dataDir,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      WEBHOOK_LEASE_MS: '3000',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_POLL_MS: '100',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    };
    let server: ChildServer = await startChildServer(env);
    cleanup.push(() => server.kill());

    // the receiver holds the first process's requests: nothing is delivered before the kill
    receiver.reply = () => ({ status: 204, delayMs: 60_000 });
    const admin = platformAdminCredential(dataDir);
    const adminToken = await issuedAccessToken(admin.token_endpoint, admin.client_id, admin.client_secret);
    const subscription = await call(`${admin.admin_api}/tenants/acme/webhooks`, adminToken, 'POST', {
      url: receiver.url,
      event_types: ['*'],
    });
    expect(subscription.status).toBe(201);

    const acme = demoCredentials(dataDir).find((c) => c.environment === 'production' && c.tenant === 'acme');
    if (!acme) throw new Error('no demo credential for acme');
    const apiToken = await issuedAccessToken(acme.token_endpoint, acme.client_id, acme.client_secret, acme.scope);
    const committed = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const created = await call(`${acme.api_base}/employees`, apiToken, 'POST', {
        employee_number: `CR-${i}`,
        first_name: 'Kept',
        last_name: `No ${i}`,
      });
      expect(created.status).toBe(201);
      committed.add(created.body.id as string);
    }
    const employee = [...committed][0];
    const batch = await call(`${acme.api_base}/clockings/batch`, apiToken, 'POST', {
      items: Array.from({ length: 200 }, (_, i) => ({
        employee_id: employee,
        timestamp: new Date(Date.UTC(2026, 2, 1) + i * 60_000).toISOString(),
        direction: i % 2 ? 'out' : 'in',
        source_device: 'kept',
      })),
    });
    expect(batch.status).toBe(201);
    for (const id of batch.body.ids as string[]) committed.add(id);
    // rolled back: a duplicate employee number, and a batch with one unknown employee
    const duplicate = await call(`${acme.api_base}/employees`, apiToken, 'POST', {
      employee_number: 'CR-0',
      first_name: 'RolledBack',
      last_name: 'X',
    });
    expect(duplicate.status).toBe(409);
    const badBatch = await call(`${acme.api_base}/clockings/batch`, apiToken, 'POST', {
      items: [
        { employee_id: employee, timestamp: '2026-03-02T08:00:00Z', direction: 'in', source_device: 'rolled-back' },
        {
          employee_id: '00000000-0000-4000-8000-000000000000',
          timestamp: '2026-03-02T09:00:00Z',
          direction: 'in',
          source_device: 'rolled-back',
        },
      ],
    });
    expect(badBatch.status).toBe(422);

    await eventually(async () => expect(receiver.received.length).toBeGreaterThan(0), 10_000);
    await server.kill();
    const inFlight = receiver.received.length;
    expect(inFlight).toBeLessThan(committed.size);

    receiver.received.length = 0;
    receiver.reply = () => ({ status: 204 });
    server = await startChildServer(env, { port: server.port });
    const deliveredIds = () => new Set(receiver.received.map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
    await eventually(async () => {
      const delivered = deliveredIds();
      expect([...committed].filter((id) => !delivered.has(id))).toEqual([]);
    }, 30_000);
    // past the lease of anything in flight at the kill: still nothing rolled back arrives
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const bodies = receiver.received.map((r) => r.body).join('\n');
    expect(bodies).not.toContain('RolledBack');
    expect(bodies).not.toContain('rolled-back');
    expect(receiver.received.length).toBeGreaterThanOrEqual(committed.size);
    expect(receiver.received.length).toBeLessThanOrEqual(committed.size + inFlight); // at least once, duplicates only from the kill
    await server.stop();
  }, 120_000);
});
