/**
 * Webhooks end to end against a real receiver on loopback: subscriptions through the admin API,
 * events written with the changes that cause them (and never for a rolled back one), Standard
 * Webhooks signatures verified with the `standardwebhooks` package, the retry schedule on an
 * injected clock, 410 Gone, redirects, refused addresses, rotation, redelivery and the test event.
 */
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { enqueueEvents } from '../../src/webhooks/outbox.ts';
import { DELIVERY_POLICY } from '../../src/webhooks/delivery/policy.ts';
import { postWebhook } from '../../src/webhooks/delivery/sender.ts';
import { createDeliveryWorker, type DeliveryWorker } from '../../src/webhooks/delivery/worker.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { type AdminClient, adminClient, requestClientCredentials } from '../helpers/admin.ts';
import { type ApiClient, apiClient } from '../helpers/api-client.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

interface Subscription {
  id: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  secret: string;
  previous_secret_expires_at: string | null;
}
interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
}

describe.each(testDatabaseKinds())('webhooks on %s', (kind) => {
  let server: TestServer;
  let admin: AdminClient;
  let acme: ApiClient;
  let acmeId: string;
  let receiver: WebhookReceiver;
  let worker: DeliveryWorker;
  /** the worker's clock runs this far ahead of real time */
  let offset = 0;
  let employeeSeq = 0;

  const newWorker = (options: { allowLoopback?: boolean; timeoutMs?: number; pollMs?: number; db?: Database } = {}) =>
    createDeliveryWorker({
      db: options.db ?? server.booted.db,
      keyEncryption: server.booted.keyEncryption,
      log: createLogger('silent'),
      now: () => Date.now() + offset,
      leaseMs: 60_000,
      timeoutMs: options.timeoutMs ?? 2_000,
      concurrency: 8,
      pollMs: options.pollMs ?? 50,
      allowLoopback: options.allowLoopback ?? true,
      random: () => 0, // no jitter: the schedule is asserted exactly
    });

  /** Runs rounds until nothing more is due now. */
  const deliverDue = async () => {
    let total = 0;
    for (let n = await worker.runOnce(); n > 0; n = await worker.runOnce()) total += n;
    return total;
  };

  const subscribe = async (body: Record<string, unknown>, slug = 'acme') => {
    const created = await admin.call<Subscription>('POST', `/tenants/${slug}/webhooks`, body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  };
  const deliveries = async (subscription: string) =>
    (await admin.call<{ data: Delivery[] }>('GET', `/tenants/acme/webhooks/${subscription}/deliveries`)).body.data;
  const createEmployee = async () => {
    employeeSeq += 1;
    const created = await acme.request<{ id: string }>('POST', '/employees', {
      body: { employee_number: `WH-${employeeSeq}`, first_name: 'Web', last_name: 'Hook' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  };
  const count = async (sql: string, params: unknown[] = []) => (await server.booted.db.admin.query<{ n: number }>(sql, params))[0]?.n ?? 0;

  beforeAll(async () => {
    server = await startTestServer(kind, { env: { WEBHOOK_WORKER: 'false' } });
    admin = await adminClient(server);
    acme = await apiClient(server, 'production', 'acme');
    const [row] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'production' AND slug = 'acme'`,
    );
    acmeId = row?.id ?? '';
    receiver = await startWebhookReceiver();
  });
  afterEach(async () => {
    await worker?.stop();
    for (const slug of ['acme', 'globex']) {
      const list = await admin.call<{ data: { id: string }[] }>('GET', `/tenants/${slug}/webhooks`);
      for (const s of list.body.data) await admin.call('DELETE', `/tenants/${slug}/webhooks/${s.id}`);
    }
    receiver.received.length = 0;
    receiver.maxInFlight.clear();
    receiver.reply = () => ({ status: 204 });
    offset = 0;
  });
  afterAll(async () => {
    await receiver?.close();
    await server?.close();
  });

  describe('subscriptions', () => {
    it('are created with a whsec_ secret shown once, then read, changed and deleted, each audited', async () => {
      const created = await subscribe({ url: receiver.url, event_types: ['employee.*', 'clocking.created'], description: 'HR sync' });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(Buffer.from(created.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
      const read = await admin.call<Record<string, unknown>>('GET', `/tenants/acme/webhooks/${created.id}`);
      expect(read.status).toBe(200);
      expect(read.body).not.toHaveProperty('secret');
      expect(read.body).toMatchObject({ url: receiver.url, event_types: ['employee.*', 'clocking.created'], enabled: true });
      const changed = await admin.call('PATCH', `/tenants/acme/webhooks/${created.id}`, { enabled: false, description: 'paused' });
      expect(changed.body).toMatchObject({ enabled: false, description: 'paused' });
      expect(JSON.stringify((await admin.call('GET', '/tenants/acme/webhooks')).body)).not.toContain('whsec_');
      expect((await admin.call('DELETE', `/tenants/acme/webhooks/${created.id}`)).status).toBe(204);
      expect((await admin.call('GET', `/tenants/acme/webhooks/${created.id}`)).status).toBe(404);
      const audit = await admin.call<{ data: { action: string; after: unknown }[] }>('GET', '/audit-events?tenant=acme&action=webhook.*');
      expect(audit.body.data.map((e) => e.action).slice(0, 3)).toEqual(['webhook.delete', 'webhook.update', 'webhook.create']);
      expect(JSON.stringify(audit.body)).not.toContain('whsec_');
    });

    it('refuses plain http, private addresses and patterns that match no event type', async () => {
      const cases: [string, string[], string][] = [
        ['http://hooks.example.com/x', ['*'], '/url'],
        ['https://10.1.2.3/x', ['*'], '/url'],
        ['https://[fd00::1]/x', ['*'], '/url'],
        ['https://169.254.169.254/latest', ['*'], '/url'],
        ['https://user:pw@hooks.example.com/x', ['*'], '/url'],
        ['https://hooks.example.com/x', ['employe.*'], '/event_types/0'],
        ['https://hooks.example.com/x', ['employee.archived'], '/event_types/0'],
      ];
      for (const [url, types, pointer] of cases) {
        const refused = await admin.call<{ errors: { pointer: string }[] }>('POST', '/tenants/acme/webhooks', { url, event_types: types });
        expect(refused.status, url).toBe(422);
        expect(
          refused.body.errors.map((e) => e.pointer),
          url,
        ).toContain(pointer);
      }
      expect((await admin.call('POST', '/tenants/acme/webhooks', { url: 'https://hooks.example.com/x', event_types: ['*'] })).status).toBe(
        201,
      );
    });

    it('keeps patterns to the three forms the fan-out matches, in the schema too', async () => {
      for (const patterns of [['employee%'], ['*.created'], ['employee.created', 'x']]) {
        await expect(
          server.booted.db.admin.scoped(acmeId, (tx) =>
            tx.query(
              `INSERT INTO webhook_subscriptions (tenant_id, id, url, event_types, secret_encrypted)
               VALUES ($1, gen_random_uuid(), 'https://hooks.example.com', $2::text[], 'x')`,
              [acmeId, patterns],
            ),
          ),
        ).rejects.toMatchObject({ code: '23514' });
      }
    });

    it('enforces settings.webhooks.max_subscriptions with 409', async () => {
      expect((await admin.call('PATCH', '/tenants/globex', { settings: { webhooks: { max_subscriptions: 2 } } })).status).toBe(200);
      try {
        await subscribe({ url: receiver.url, event_types: ['*'] }, 'globex');
        await subscribe({ url: receiver.url, event_types: ['*'] }, 'globex');
        const third = await admin.call('POST', '/tenants/globex/webhooks', { url: receiver.url, event_types: ['*'] });
        expect(third.status).toBe(409);
      } finally {
        await admin.call('PATCH', '/tenants/globex', { settings: { webhooks: null } });
      }
    });

    it("lets the tenant's own tenant:admin client manage its subscriptions, and no other tenant's", async () => {
      const client = await admin.call<{ client_id: string; client_secret: string }>('POST', '/tenants/acme/clients', {
        name: 'self-service',
        scopes: ['tenant:admin'],
      });
      expect(client.status).toBe(201);
      const token = await requestClientCredentials(
        server.credential('production', 'acme').token_endpoint,
        client.body.client_id,
        client.body.client_secret,
        'tenant:admin',
      );
      expect(token.status).toBe(200);
      const self = await adminClient(server, { token: token.body.access_token as string });
      const created = await self.call<Subscription>('POST', '/tenants/acme/webhooks', { url: receiver.url, event_types: ['*'] });
      expect(created.status).toBe(201);
      expect((await self.call('GET', '/tenants/acme/webhooks')).status).toBe(200);
      expect((await self.call('GET', '/tenants/globex/webhooks')).status).toBe(404);
      expect((await self.call('POST', '/tenants/globex/webhooks', { url: receiver.url, event_types: ['*'] })).status).toBe(404);
    });
  });

  describe('events and delivery', () => {
    it('delivers a change as a signed event that verifies with the standardwebhooks package', async () => {
      worker = newWorker();
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
      const employee = await createEmployee();
      expect(await deliverDue()).toBe(1);
      expect(receiver.received).toHaveLength(1);
      const [request] = receiver.received;
      const payload = new Webhook(subscription.secret).verify(request?.body ?? '', request?.headers ?? {}) as Record<string, unknown>;
      expect(payload).toMatchObject({
        type: 'employee.created',
        tenant: 'acme',
        environment: 'production',
        data: { id: employee.id, employee_number: `WH-${employeeSeq}`, first_name: 'Web', version: 1 },
      });
      expect(payload.id).toBe(request?.headers['webhook-id']);
      expect(Date.parse(payload.occurred_at as string)).toBeGreaterThan(Date.now() - 60_000);
      expect(request?.headers['content-type']).toBe('application/json');
      const [delivery] = await deliveries(subscription.id);
      expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 204, event_type: 'employee.created' });
      expect(await count('SELECT count(*)::int AS n FROM webhook_schedule')).toBe(0);
    });

    it('emits created, updated and deleted with the API representation (the id for a deletion), only to matching subscriptions', async () => {
      worker = newWorker();
      const employees = await subscribe({ url: `${receiver.url}/employees`, event_types: ['employee.updated', 'employee.deleted'] });
      const everything = await subscribe({ url: `${receiver.url}/all`, event_types: ['*'] });
      const orgUnits = await subscribe({ url: `${receiver.url}/org`, event_types: ['org_unit.*'] });
      const employee = await createEmployee();
      const patched = await acme.request('PATCH', `/employees/${employee.id}`, {
        body: { first_name: 'Changed' },
        headers: { 'if-match': '"1"' },
      });
      expect(patched.status).toBe(200);
      expect((await acme.request('DELETE', `/employees/${employee.id}`, { headers: { 'if-match': '"2"' } })).status).toBe(204);
      await deliverDue();
      const byPath = (path: string) =>
        receiver.received.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as Record<string, unknown>);
      expect(byPath('/hooks/all').map((e) => e.type)).toEqual(['employee.created', 'employee.updated', 'employee.deleted']);
      expect(byPath('/hooks/employees').map((e) => e.type)).toEqual(['employee.updated', 'employee.deleted']);
      expect(byPath('/hooks/org')).toEqual([]);
      const [updated, deleted] = byPath('/hooks/employees');
      expect(updated?.data).toMatchObject({ id: employee.id, first_name: 'Changed', version: 2 });
      expect(deleted?.data).toEqual({ id: employee.id });
      // the same event reaches two subscriptions under the same id
      expect(byPath('/hooks/all')[1]?.id).toBe(updated?.id);
      expect((await deliveries(employees.id)).every((d) => d.status === 'delivered')).toBe(true);
      expect(await deliveries(everything.id)).toHaveLength(3);
      expect(await deliveries(orgUnits.id)).toHaveLength(0);
    });

    it('never produces an event for a change that rolls back', async () => {
      worker = newWorker();
      await subscribe({ url: receiver.url, event_types: ['*'] });
      const before = await count('SELECT count(*)::int AS n FROM outbox_events');
      // refused by the database (duplicate number): the request's transaction rolls back
      const first = await createEmployee();
      const duplicate = await acme.request('POST', '/employees', {
        body: { employee_number: `WH-${employeeSeq}`, first_name: 'Dup', last_name: 'Licate' },
      });
      expect(duplicate.status).toBe(409);
      // an event written, then the transaction fails after it
      await expect(
        server.booted.db.scoped(acmeId, async (tx) => {
          await enqueueEvents(tx, [{ type: 'employee.created', data: { id: 'never' } }]);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await count('SELECT count(*)::int AS n FROM outbox_events')).toBe(before + 1);
      await deliverDue();
      expect(receiver.received.map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id)).toEqual([first.id]);
    });

    it('writes one event per item of a 1,000-clocking batch, in the batch’s transaction', async () => {
      worker = newWorker();
      const subscription = await subscribe({ url: receiver.url, event_types: ['clocking.created'] });
      const employee = await acme.first('/employees');
      const items = Array.from({ length: 1000 }, (_, i) => ({
        employee_id: employee.id,
        timestamp: new Date(Date.UTC(2026, 1, 1) + i * 60_000).toISOString().replace('Z', '+02:00'),
        direction: i % 2 ? 'out' : 'in',
      }));
      const batch = await acme.request<{ ids: string[] }>('POST', '/clockings/batch', { body: { items } });
      expect(batch.status).toBe(201);
      await deliverDue();
      expect(receiver.received).toHaveLength(1000);
      const events = receiver.received.map((r) => JSON.parse(r.body) as { type: string; data: { id: string; timestamp: string } });
      expect(new Set(events.map((e) => e.data.id))).toEqual(new Set(batch.body.ids));
      expect(events.every((e) => e.type === 'clocking.created' && e.data.timestamp.endsWith('+02:00'))).toBe(true);
      expect(
        (await admin.call<{ data: Delivery[] }>('GET', `/tenants/acme/webhooks/${subscription.id}/deliveries?status=pending`)).body.data,
      ).toEqual([]);
    });

    it('emits tenant.suspended, tenant.activated and client.secret_rotated', async () => {
      worker = newWorker();
      await subscribe({ url: receiver.url, event_types: ['tenant.*', 'client.secret_rotated'] }, 'globex');
      expect((await admin.call('POST', '/tenants/globex/suspend')).status).toBe(200);
      expect((await admin.call('POST', '/tenants/globex/activate')).status).toBe(200);
      const clientId = server.credential('production', 'globex').client_id;
      const rotated = await admin.call<{ client_secret: string }>('POST', `/tenants/globex/clients/${clientId}/rotate-secret`, {});
      expect(rotated.status).toBe(200);
      await deliverDue();
      const events = receiver.received.map((r) => JSON.parse(r.body) as { type: string; tenant: string; data: Record<string, unknown> });
      expect(events.map((e) => e.type)).toEqual(['tenant.suspended', 'tenant.activated', 'client.secret_rotated']);
      expect(events[0]).toMatchObject({ tenant: 'globex', data: { slug: 'globex', status: 'SUSPENDED' } });
      expect(events[2]?.data).toMatchObject({ client_id: clientId });
      expect(JSON.stringify(events)).not.toContain(rotated.body.client_secret);
    });

    it('delivers nothing while the tenant has settings.webhooks.enabled = false, nor to a disabled subscription', async () => {
      worker = newWorker();
      const disabled = await subscribe({ url: `${receiver.url}/disabled`, event_types: ['*'], enabled: false });
      await subscribe({ url: receiver.url, event_types: ['*'] });
      expect((await admin.call('PATCH', '/tenants/acme', { settings: { webhooks: { enabled: false } } })).status).toBe(200);
      try {
        await createEmployee();
        await deliverDue();
        expect(receiver.received).toHaveLength(0);
      } finally {
        await admin.call('PATCH', '/tenants/acme', { settings: { webhooks: null } });
      }
      await createEmployee();
      await deliverDue();
      expect(receiver.received.map((r) => r.path)).toEqual(['/hooks']);
      expect(await deliveries(disabled.id)).toHaveLength(0);
    });
  });

  describe('retries and failures', () => {
    it('names the tenant and environment in headers, and keeps every attempt with its latency, code and response', async () => {
      worker = newWorker();
      let calls = 0;
      receiver.reply = () => ((calls += 1) === 1 ? { status: 500, body: `{"error":"db down"}${'x'.repeat(2000)}` } : { status: 204 });
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.created'] });
      await createEmployee();
      await deliverDue();
      offset = 6_000;
      await deliverDue();
      expect(receiver.received.map((r) => [r.headers['tenant-connect-tenant'], r.headers['tenant-connect-environment']])).toEqual([
        ['acme', 'production'],
        ['acme', 'production'],
      ]);
      const [listed] = await deliveries(subscription.id);
      const one = await admin.call<{ attempt_history: Record<string, unknown>[] }>(
        'GET',
        `/tenants/acme/webhooks/${subscription.id}/deliveries/${listed?.id}`,
      );
      expect(one.body.attempt_history).toEqual([
        expect.objectContaining({ status_code: 500, error: 'HTTP 500', duration_ms: expect.any(Number) }),
        expect.objectContaining({ status_code: 204, error: null, response_body: null }),
      ]);
      const [first] = one.body.attempt_history;
      expect(first?.response_body).toHaveLength(1024);
      expect(String(first?.response_body)).toMatch(/^\{"error":"db down"\}x+$/);
    });

    it('waits as long as a 429 or 503 Retry-After asks (seconds or an HTTP date), longer than the schedule', async () => {
      worker = newWorker();
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.created'] });
      receiver.reply = () => ({ status: 429, headers: { 'retry-after': '3600' } });
      await createEmployee();
      await deliverDue();
      const [pending] = await deliveries(subscription.id);
      const wait = Date.parse(pending?.next_attempt_at ?? '') - Date.parse(pending?.last_attempt_at ?? '');
      expect(wait).toBeGreaterThan(3_599_000); // measured from when the attempt is recorded: a few ms after it ends
      expect(wait).toBeLessThan(3_601_000);
      receiver.reply = () => ({ status: 503, headers: { 'retry-after': new Date(Date.now() + offset + 7_200_000).toUTCString() } });
      offset = wait + 10;
      await deliverDue();
      const [again] = await deliveries(subscription.id);
      const secondWait = Date.parse(again?.next_attempt_at ?? '') - Date.parse(again?.last_attempt_at ?? '');
      expect(secondWait).toBeGreaterThan(7_190_000);
      expect(secondWait).toBeLessThan(7_201_000);
    });

    it('gives one subscription at most a quarter of the lanes: a slow receiver does not hold up the others', async () => {
      worker = newWorker(); // 8 lanes: 2 per subscription
      await subscribe({ url: `${receiver.url}/slow`, event_types: ['employee.created'] });
      await subscribe({ url: `${receiver.url}/fast`, event_types: ['employee.*'] });
      receiver.reply = (request) => ({ status: 204, delayMs: request.path === '/hooks/slow' ? 300 : 0 });
      for (let i = 0; i < 6; i++) await createEmployee();
      const started = Date.now();
      await deliverDue();
      expect(receiver.received.filter((r) => r.path === '/hooks/slow')).toHaveLength(6);
      expect(receiver.received.filter((r) => r.path === '/hooks/fast')).toHaveLength(6);
      expect(receiver.maxInFlight.get('/hooks/slow')).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900); // 6 slow requests, 2 at a time
      // the fast receiver got every event before the slow one's last pair was sent
      const lastFast = receiver.received.map((r) => r.path).lastIndexOf('/hooks/fast');
      expect(lastFast).toBeLessThan(receiver.received.map((r) => r.path).lastIndexOf('/hooks/slow'));
    });

    it('delivers another tenant’s event while a slow receiver’s requests are still running', async () => {
      worker = newWorker({ timeoutMs: 5_000 });
      await subscribe({ url: `${receiver.url}/slow`, event_types: ['employee.created'] });
      await subscribe({ url: `${receiver.url}/globex`, event_types: ['tenant.*'] }, 'globex');
      receiver.reply = (request) => ({ status: 204, delayMs: request.path === '/hooks/slow' ? 2_000 : 0 });
      await worker.start();
      for (let i = 0; i < 4; i++) await createEmployee();
      await eventually(async () => expect(receiver.received.filter((r) => r.path === '/hooks/slow')).toHaveLength(2), 1_000);
      const started = Date.now();
      expect((await admin.call('POST', '/tenants/globex/suspend')).status).toBe(200);
      await admin.call('POST', '/tenants/globex/activate');
      // the slow receiver holds its two lanes for 2 s; globex's events go out at once meanwhile
      await eventually(async () => expect(receiver.received.filter((r) => r.path === '/hooks/globex')).toHaveLength(2), 1_000);
      expect(Date.now() - started).toBeLessThan(1_000);
      await eventually(async () => expect(receiver.received.filter((r) => r.path === '/hooks/slow')).toHaveLength(4), 5_000);
    });

    it('keeps claiming without pausing while a capped round leaves work due', async () => {
      worker = newWorker({ pollMs: 2_000 }); // 50 per round, at most 12 for one tenant
      await subscribe({ url: receiver.url, event_types: ['clocking.created'] });
      const [employee] = (await acme.request<{ data: { id: string }[] }>('GET', '/employees?limit=1')).body.data;
      const items = Array.from({ length: 60 }, (_, i) => ({
        employee_id: employee?.id,
        timestamp: new Date(Date.UTC(2026, 1, 1, 0, i)).toISOString(),
        direction: i % 2 ? 'out' : 'in',
      }));
      await worker.start();
      expect((await acme.request('POST', '/clockings/batch', { body: { items } })).status).toBe(201);
      // five rounds' worth: a pause between rounds (the 2 s poll) would take over 8 s
      await eventually(async () => expect(receiver.received).toHaveLength(60), 1_500);
    });

    it('claims fairly: one tenant’s backlog does not hold up another tenant’s event', async () => {
      worker = newWorker();
      await subscribe({ url: receiver.url, event_types: ['clocking.created'] });
      await subscribe({ url: `${receiver.url}/globex`, event_types: ['tenant.*'] }, 'globex');
      const [employee] = (await acme.request<{ data: { id: string }[] }>('GET', '/employees?limit=1')).body.data;
      const items = Array.from({ length: 200 }, (_, i) => ({
        employee_id: employee?.id,
        timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
        direction: i % 2 ? 'out' : 'in',
      }));
      expect((await acme.request('POST', '/clockings/batch', { body: { items } })).status).toBe(201);
      expect((await admin.call('POST', '/tenants/globex/suspend')).status).toBe(200);
      await admin.call('POST', '/tenants/globex/activate');
      await worker.runOnce(); // one round: at most a quarter of it for acme
      const paths = receiver.received.map((r) => r.path);
      expect(paths.filter((p) => p === '/hooks/globex')).toHaveLength(2);
      expect(paths.filter((p) => p === '/hooks').length).toBeLessThanOrEqual(50);
      await deliverDue();
      expect(receiver.received.filter((r) => r.path === '/hooks')).toHaveLength(200);
    });

    it('retries on the fixed schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), then fails', async () => {
      worker = newWorker();
      receiver.reply = () => ({ status: 503 });
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.created'] });
      await createEmployee();
      expect(await deliverDue()).toBe(1);
      const gaps: number[] = [];
      for (let attempt = 1; attempt <= DELIVERY_POLICY.retryDelaysMs.length; attempt++) {
        const [pending] = await deliveries(subscription.id);
        expect(pending).toMatchObject({ status: 'pending', attempts: attempt, last_status_code: 503, last_error: 'HTTP 503' });
        const due = Date.parse(pending?.next_attempt_at ?? '');
        gaps.push(due - Date.parse(pending?.last_attempt_at ?? ''));
        offset = due - Date.now() - 1_000; // a second early: nothing is due
        expect(await worker.runOnce()).toBe(0);
        offset = due - Date.now() + 10;
        expect(await deliverDue()).toBe(1);
      }
      // each retry waits its delay after the previous attempt (a few ms of attempt time aside)
      gaps.forEach((gap, i) => expect(Math.abs(gap - (DELIVERY_POLICY.retryDelaysMs[i] as number))).toBeLessThan(1_000));
      const [failed] = await deliveries(subscription.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 8, next_attempt_at: null });
      // every attempt over the whole schedule failed and nothing got through since: disabled, and it says why
      const after = await admin.call<{ enabled: boolean; disabled_reason: string }>('GET', `/tenants/acme/webhooks/${subscription.id}`);
      expect(after.body).toMatchObject({
        enabled: false,
        disabled_reason: expect.stringMatching(/^every attempt of a delivery failed for 28 hours/),
      });
      expect(receiver.received).toHaveLength(8);
      expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1); // one event, one id
      offset += 30 * 86_400_000;
      expect(await worker.runOnce()).toBe(0);
    });

    it('leases a claimed delivery: no other worker takes it until the lease runs out, and a late result is dropped', async () => {
      worker = newWorker({ timeoutMs: 5_000 });
      const other = newWorker();
      try {
        let calls = 0;
        receiver.reply = () => ({ status: 200, delayMs: (calls += 1) === 1 ? 800 : 0 });
        const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
        await createEmployee();
        const slow = worker.runOnce(); // holds the delivery while the receiver takes its time
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(receiver.received).toHaveLength(1);
        expect(await other.runOnce()).toBe(0); // leased: not due for anyone else
        offset = 61_000; // past the 60 s lease (both workers read this clock)
        expect(await other.runOnce()).toBe(1);
        expect(receiver.received).toHaveLength(2); // at least once: the second worker delivered again
        expect(await slow).toBe(1);
        const [delivery] = await deliveries(subscription.id);
        // the first worker's result came after its lease was taken over: the newer claim's result stands
        expect(delivery).toMatchObject({ status: 'delivered', attempts: 1 });
        expect(await count('SELECT count(*)::int AS n FROM webhook_schedule')).toBe(0);
      } finally {
        await other.stop();
      }
    });

    it('keeps running through database errors and delivers once the database answers again', async () => {
      const real = server.booted.db;
      let outage = 3;
      const flaky: Database = {
        ...real,
        admin: {
          ...real.admin,
          query: (sql, params) =>
            outage-- > 0 ? Promise.reject(new Error('Connection terminated unexpectedly')) : real.admin.query(sql, params),
        },
      };
      worker = newWorker({ db: flaky });
      await subscribe({ url: receiver.url, event_types: ['employee.*'] });
      await createEmployee();
      await worker.start();
      await eventually(async () => expect(receiver.received).toHaveLength(1), 10_000);
      expect(outage).toBeLessThan(0);
    });

    it('retries a delivery it cannot sign like any failure, and delivers the others of the round', async () => {
      worker = newWorker();
      const broken = await subscribe({ url: `${receiver.url}/broken`, event_types: ['employee.*'] });
      await subscribe({ url: `${receiver.url}/fine`, event_types: ['employee.*'] });
      await server.booted.db.admin.scoped(acmeId, (tx) =>
        tx.query(`UPDATE webhook_subscriptions SET secret_encrypted = 'v1.not.a.secret' WHERE tenant_id = $1 AND id = $2`, [
          acmeId,
          broken.id,
        ]),
      );
      await createEmployee();
      expect(await deliverDue()).toBe(2);
      expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/fine']);
      expect((await deliveries(broken.id))[0]).toMatchObject({
        status: 'pending',
        attempts: 1,
        last_error: 'internal error before sending',
      });
    });

    it('disables the subscription when the receiver answers 410 Gone', async () => {
      worker = newWorker();
      receiver.reply = () => ({ status: 410 });
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
      await createEmployee();
      await deliverDue();
      const read = await admin.call<Subscription>('GET', `/tenants/acme/webhooks/${subscription.id}`);
      expect(read.body).toMatchObject({ enabled: false, disabled_reason: expect.stringContaining('410') });
      expect((await deliveries(subscription.id))[0]).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 410 });
      await createEmployee();
      await deliverDue();
      expect(receiver.received).toHaveLength(1);
      // enabled again by hand, it receives the next event
      receiver.reply = () => ({ status: 200 });
      await admin.call('PATCH', `/tenants/acme/webhooks/${subscription.id}`, { enabled: true });
      expect((await admin.call<Subscription>('GET', `/tenants/acme/webhooks/${subscription.id}`)).body.disabled_reason).toBeNull();
      await createEmployee();
      await deliverDue();
      expect(receiver.received).toHaveLength(2);
    });

    it('does not follow redirects: a 3xx is a failed attempt', async () => {
      worker = newWorker();
      const elsewhere = await startWebhookReceiver();
      try {
        receiver.reply = () => ({ status: 307, headers: { location: elsewhere.url } });
        const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
        await createEmployee();
        await deliverDue();
        expect(elsewhere.received).toHaveLength(0);
        expect((await deliveries(subscription.id))[0]).toMatchObject({
          status: 'pending',
          attempts: 1,
          last_status_code: 307,
          last_error: expect.stringContaining('redirects are not followed'),
        });
      } finally {
        await elsewhere.close();
      }
    });

    it('gives up an attempt after the timeout', async () => {
      worker = newWorker({ timeoutMs: 200 });
      receiver.reply = () => ({ status: 200, delayMs: 1_000 });
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
      await createEmployee();
      await deliverDue();
      expect((await deliveries(subscription.id))[0]).toMatchObject({
        status: 'pending',
        attempts: 1,
        last_status_code: null,
        last_error: expect.stringContaining('200 ms'),
      });
    });

    it('refuses private, loopback (unless allowed), link-local and unique-local addresses without connecting', async () => {
      const body = '{}';
      const signed = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1', 'webhook-signature': 'v1,x' };
      const options = { timeoutMs: 1_000, allowLoopback: false };
      for (const url of [
        receiver.url,
        `http://localhost:${receiver.port}/hooks`,
        'https://10.0.0.1/x',
        'https://192.168.1.1/x',
        'https://172.16.0.1/x',
        'https://169.254.169.254/x',
        'https://[::1]/x',
        'https://[fe80::1]/x',
        'https://[fd12:3456::1]/x',
        'https://[::ffff:127.0.0.1]/x',
        'https://[::ffff:10.0.0.1]/x',
        'https://0.0.0.0/x',
      ]) {
        const result = await postWebhook(url, signed, body, options);
        expect(result.code, url).toBeNull();
        expect(result.error, url).toMatch(/refused|resolves to/);
      }
      expect(receiver.received).toHaveLength(0);
      expect(await postWebhook(receiver.url, signed, body, { ...options, allowLoopback: true })).toMatchObject({ code: 204, error: null });
    });

    it('refuses loopback receivers in a worker without the development flag', async () => {
      worker = newWorker({ allowLoopback: false });
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
      await createEmployee();
      await deliverDue();
      expect(receiver.received).toHaveLength(0);
      expect((await deliveries(subscription.id))[0]).toMatchObject({ status: 'pending', last_error: expect.stringContaining('loopback') });
    });
  });

  describe('rotation, redelivery and the test event', () => {
    it('signs with the new and the previous secret during the grace period, then with the new one alone', async () => {
      worker = newWorker();
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.*'] });
      const rotated = await admin.call<{ subscription: Subscription; secret: string }>(
        'POST',
        `/tenants/acme/webhooks/${subscription.id}/rotate-secret`,
        { grace_seconds: 3600 },
      );
      expect(rotated.status).toBe(200);
      expect(rotated.body.secret).not.toBe(subscription.secret);
      expect(Date.parse(rotated.body.subscription.previous_secret_expires_at ?? '')).toBeGreaterThan(Date.now() + 3500_000);
      await createEmployee();
      await deliverDue();
      const [during] = receiver.received;
      expect(during?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
      for (const secret of [subscription.secret, rotated.body.secret]) {
        expect(() => new Webhook(secret).verify(during?.body ?? '', during?.headers ?? {})).not.toThrow();
      }
      const ended = await admin.call<{ secret: string }>('POST', `/tenants/acme/webhooks/${subscription.id}/rotate-secret`, {
        grace_seconds: 0,
      });
      await createEmployee();
      await deliverDue();
      const after = receiver.received[1];
      expect(after?.headers['webhook-signature']?.split(' ')).toHaveLength(1);
      expect(() => new Webhook(ended.body.secret).verify(after?.body ?? '', after?.headers ?? {})).not.toThrow();
      expect(() => new Webhook(rotated.body.secret).verify(after?.body ?? '', after?.headers ?? {})).toThrow();
    });

    it('sends webhook.test on demand to that subscription alone, and redelivers an event under its id', async () => {
      worker = newWorker();
      const target = await subscribe({ url: `${receiver.url}/target`, event_types: ['employee.created'] });
      await subscribe({ url: `${receiver.url}/other`, event_types: ['*'] });
      const test = await admin.call<Delivery>('POST', `/tenants/acme/webhooks/${target.id}/test`);
      expect(test.status).toBe(202);
      expect(test.body).toMatchObject({ event_type: 'webhook.test', status: 'pending', attempts: 0 });
      await deliverDue();
      expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/target']);
      expect(new Webhook(target.secret).verify(receiver.received[0]?.body ?? '', receiver.received[0]?.headers ?? {})).toMatchObject({
        type: 'webhook.test',
      });

      const again = await admin.call<Delivery>('POST', `/tenants/acme/webhooks/${target.id}/deliveries/${test.body.id}/redeliver`);
      expect(again.status).toBe(202);
      expect(again.body.id).not.toBe(test.body.id);
      await deliverDue();
      expect(receiver.received[1]?.headers['webhook-id']).toBe(receiver.received[0]?.headers['webhook-id']);
      const list = await deliveries(target.id);
      expect(list.map((d) => d.status)).toEqual(['delivered', 'delivered']);
      expect((await admin.call('POST', `/tenants/acme/webhooks/${target.id}/deliveries/${acmeId}/redeliver`)).status).toBe(404);
    });

    it('shows one delivery with the event it carries, and lists the event types', async () => {
      worker = newWorker();
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.created'] });
      const employee = await createEmployee();
      await deliverDue();
      const [listed] = await deliveries(subscription.id);
      const one = await admin.call<Delivery & { event: Record<string, unknown> }>(
        'GET',
        `/tenants/acme/webhooks/${subscription.id}/deliveries/${listed?.id}`,
      );
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ ...listed, event: { type: 'employee.created', tenant: 'acme', data: { id: employee.id } } });
      expect(one.body.event).toEqual(JSON.parse(receiver.received[0]?.body ?? '{}'));
      expect((await admin.call('GET', `/tenants/acme/webhooks/${subscription.id}/deliveries/${acmeId}`)).status).toBe(404);
      expect((await admin.call('GET', `/tenants/globex/webhooks/${subscription.id}/deliveries/${listed?.id}`)).status).toBe(404);
      const types = await admin.call<{ data: { type: string }[] }>('GET', '/webhook-event-types');
      expect(types.body.data.map((t) => t.type)).toEqual(expect.arrayContaining(['employee.created', 'tenant.suspended', 'webhook.test']));
    });

    it('pages deliveries newest first', async () => {
      worker = newWorker();
      const subscription = await subscribe({ url: receiver.url, event_types: ['employee.created'] });
      for (let i = 0; i < 5; i++) await createEmployee();
      await deliverDue();
      const seen: string[] = [];
      let next: string | null = `/tenants/acme/webhooks/${subscription.id}/deliveries?limit=2`;
      while (next) {
        const page: { body: { data: Delivery[]; next: string | null } } = await admin.call('GET', next);
        seen.push(...page.body.data.map((d) => d.id));
        next = page.body.next;
      }
      expect(seen).toHaveLength(5);
      expect(new Set(seen).size).toBe(5);
    });
  });
});
