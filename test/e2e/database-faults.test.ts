/**
 * A database fault never kills the process, never hangs a request and never loses an
 * acknowledged write. The real server runs as a child process on a fresh Postgres database,
 * reached through a loopback TCP proxy, under mixed load: reads, single writes retried with their
 * Idempotency-Key, 1,000-item batches, token requests, webhook deliveries and a key rotation
 * staged to be promoted mid-fault. The faults, in turn: (a) every backend of the test database
 * terminated again and again; (b) the proxy resets every connection, then blackholes them (no
 * byte passes, nothing is closed), then forwards again.
 *
 * Asserted: the process never exits; every answer during a fault is a success or a well-formed
 * 503 with Retry-After (problem+json on the API, RFC 6749 temporarily_unavailable on the token
 * endpoint), no other 5xx anywhere and no request left hanging; /readyz is 503 during and 200
 * after; the instance recovers by itself; every acknowledged write is stored exactly once and
 * every batch is all or nothing; every acknowledged change is delivered as a webhook; the staged
 * key is promoted. Postgres only (PGlite has no connection to break): skipped without
 * TEST_DATABASE_URL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { issuedAccessToken } from '../helpers/admin.ts';
import { demoCredentials, platformAdminCredential, startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { createFreshDatabase } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { loopbackFetch } from '../helpers/server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts';

const adminUrl = process.env.TEST_DATABASE_URL;

type Phase = 'before' | 'terminate' | 'reset' | 'blackhole' | 'recovering' | 'after';
type Kind = 'ok' | 'unavailable' | 'in-use' | 'other' | 'hung';

interface Outcome {
  readonly what: string;
  readonly started: Phase;
  readonly ended: Phase;
  readonly status: number;
  readonly kind: Kind;
  readonly ms: number;
  readonly body: Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Longer than any bounded wait of the server (connect 5 s, query 5 s): past it a request hangs. */
const HANG_MS = 15_000;

describe.skipIf(!adminUrl)('database faults under load (Postgres)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  });

  it('survives terminated backends, reset and blackholed connections: 503s only, recovery, nothing lost', async () => {
    const target = new URL(adminUrl as string);
    const database = await createFreshDatabase('postgres');
    cleanup.push(() => database.drop());
    const databaseName = new URL(database.url as string).pathname.slice(1);
    const proxy: TcpProxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    cleanup.push(() => proxy.close());
    const receiver = await startWebhookReceiver();
    cleanup.push(() => receiver.close());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-faults-'));
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    // direct to Postgres, never through the proxy: the test's own view of the data and the faults
    const direct = new pg.Client({ connectionString: adminUrl });
    await direct.connect();
    cleanup.push(() => direct.end());

    const server: ChildServer = await startChildServer({
      DATA_DIR: dataDir,
      DATABASE_URL: proxy.urlFor(database.url as string),
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'error',
      // a small wait queue, so the burst below meets it
      DATABASE_POOL_QUEUE: '20',
      WEBHOOK_LEASE_MS: '3000',
      WEBHOOK_TIMEOUT_MS: '2000',
      WEBHOOK_POLL_MS: '200',
      JWKS_CACHE_SECONDS: '1',
      KEY_ROTATION_DELAY_SECONDS: '1',
      KEY_ROTATION_CHECK_MS: '200',
    });
    cleanup.push(() => server.kill());
    const exits: string[] = [];
    server.child.once('exit', (code, signal) => exits.push(`exited with ${code ?? signal}`));
    const base = `http://127.0.0.1:${server.port}`;

    const admin = platformAdminCredential(dataDir);
    const adminToken = await issuedAccessToken(admin.token_endpoint, admin.client_id, admin.client_secret);
    const adminCall = async (method: string, pathname: string, body?: unknown) => {
      const response = await loopbackFetch(`${admin.admin_api}${pathname}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const subscription = await adminCall('POST', '/tenants/acme/webhooks', { url: receiver.url, event_types: ['employee.*'] });
    expect(subscription.status).toBe(201);

    const acme = demoCredentials(dataDir).find((c) => c.environment === 'production' && c.tenant === 'acme');
    if (!acme) throw new Error('no demo credential for acme');
    const apiToken = await issuedAccessToken(acme.token_endpoint, acme.client_id, acme.client_secret, acme.scope);
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(acme.client_id)}:${encodeURIComponent(acme.client_secret)}`).toString('base64')}`;

    let phase: Phase = 'before';
    const outcomes: Outcome[] = [];

    /** One request; what came back, judged: a success, a well-formed 503, an idempotency 409, or anything else. */
    async function send(what: string, url: string, init: RequestInit & { oauth?: boolean } = {}): Promise<Outcome> {
      const started = phase;
      const t0 = performance.now();
      let outcome: Outcome;
      try {
        const response = await loopbackFetch(url, { ...init, signal: AbortSignal.timeout(HANG_MS) });
        const text = await response.text();
        let body: Record<string, unknown> = {};
        try {
          body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          body = { text };
        }
        const retryAfter = Number(response.headers.get('retry-after')) >= 1;
        const type = response.headers.get('content-type') ?? '';
        let kind: Kind = 'other';
        if (response.status >= 200 && response.status < 300) kind = 'ok';
        else if (response.status === 503 && retryAfter) {
          const wellFormed = init.oauth
            ? type.startsWith('application/json') && body.error === 'temporarily_unavailable'
            : type.startsWith('application/problem+json') && body.type === 'https://tenant-connect.dev/problems/service-unavailable';
          if (wellFormed) kind = 'unavailable';
        } else if (response.status === 409 && retryAfter && body.type === 'https://tenant-connect.dev/problems/idempotency-key-in-use')
          kind = 'in-use';
        outcome = { what, started, ended: phase, status: response.status, kind, ms: performance.now() - t0, body };
      } catch (error) {
        outcome = { what, started, ended: phase, status: 0, kind: 'hung', ms: performance.now() - t0, body: { error: String(error) } };
      }
      outcomes.push(outcome);
      return outcome;
    }
    const api = (method: string, pathname: string, body?: unknown, key?: string) =>
      send(`${method} ${pathname.replace(/\?.*/, '')}`, `${acme.api_base}${pathname}`, {
        method,
        headers: {
          authorization: `Bearer ${apiToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(key ? { 'idempotency-key': key } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    /** A POST retried with the same Idempotency-Key while the answer says to retry (bounded). */
    async function postUntilAnswered(pathname: string, body: unknown): Promise<Outcome> {
      const key = randomUUID();
      let last = await api('POST', pathname, body, key);
      for (let attempt = 0; attempt < 60 && (last.kind === 'unavailable' || last.kind === 'in-use'); attempt++) {
        await sleep(150);
        last = await api('POST', pathname, body, key);
      }
      return last;
    }

    const [employee] = ((await api('GET', '/employees?limit=1')).body.data as { id: string }[]) ?? [];
    if (!employee) throw new Error('acme has no employee');
    const clocking = (tag: string, i = 0) => ({
      employee_id: employee.id,
      timestamp: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      direction: i % 2 ? 'out' : 'in',
      source_device: tag,
    });

    // a key staged now is promoted by the rotation worker during the first fault
    const rotation = await adminCall('POST', '/tenants/acme/keys/rotate', { delay_seconds: 3 });
    expect(rotation.status).toBe(200);
    const stagedKid = (rotation.body.key as { kid: string }).kid;

    // the load: five loops, each bounded in count, until the faults are over
    let stopping = false;
    const ackedSingles = new Map<string, string>(); // tag → id
    const attemptedBatches: string[] = [];
    const ackedBatches = new Map<string, string[]>(); // tag → ids
    const ackedEmployees = new Set<string>();
    const loop = async (max: number, pause: number, step: (i: number) => Promise<void>) => {
      for (let i = 0; i < max && !stopping; i++) {
        await step(i);
        await sleep(pause);
      }
    };
    const load = Promise.all([
      loop(2000, 40, async () => void (await api('GET', '/employees?limit=5'))),
      loop(2000, 40, async (i) => {
        const tag = `single-${i}`;
        // every other write without a key: not retried, acknowledged or not
        const answer = i % 2 ? await postUntilAnswered('/clockings', clocking(tag, i)) : await api('POST', '/clockings', clocking(tag, i));
        if (answer.kind === 'ok') ackedSingles.set(tag, answer.body.id as string);
      }),
      loop(25, 400, async (i) => {
        const tag = `batch-${i}`;
        attemptedBatches.push(tag);
        const answer = await postUntilAnswered('/clockings/batch', { items: Array.from({ length: 1000 }, (_, n) => clocking(tag, n)) });
        if (answer.kind === 'ok') ackedBatches.set(tag, answer.body.ids as string[]);
      }),
      loop(2000, 60, async () => {
        await send('POST token', acme.token_endpoint, {
          method: 'POST',
          oauth: true,
          headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'employees:read' }).toString(),
        });
      }),
      loop(400, 100, async (i) => {
        const answer = await postUntilAnswered('/employees', { employee_number: `FAULT-${i}`, first_name: 'Fault', last_name: `No ${i}` });
        if (answer.kind === 'ok') ackedEmployees.add(answer.body.id as string);
      }),
    ]);

    const readyz = () => send('GET /readyz', `${base}/readyz`);
    /** ms until /readyz, a read, a write and a token request all succeed again. */
    let probes = 0;
    const recovery = async (): Promise<number> => {
      const t0 = performance.now();
      let answers: Outcome[] = [];
      for (let i = 0; i < 300; i++) {
        const tag = `probe-${probes++}`;
        answers = await Promise.all([readyz(), api('GET', '/employees?limit=1'), api('POST', '/clockings', clocking(tag), randomUUID())]);
        const written = answers[2] as Outcome;
        if (written.kind === 'ok') ackedSingles.set(tag, written.body.id as string);
        if (answers.every((p) => p.kind === 'ok')) return performance.now() - t0;
        await sleep(50);
      }
      throw new Error(`no recovery within 300 probes: ${JSON.stringify(answers)}\n${server.output().slice(-3000)}`);
    };

    await sleep(1500);
    expect(outcomes.filter((o) => o.kind !== 'ok')).toEqual([]);

    // (a) every backend of the test database terminated, again and again, for 5 s
    phase = 'terminate';
    let terminated = 0;
    for (const until = performance.now() + 5000; performance.now() < until;) {
      const result = await direct.query<{ n: string }>(
        'SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [databaseName],
      );
      terminated += Number(result.rows[0]?.n ?? 0);
      await sleep(250);
    }
    phase = 'recovering';
    const afterTerminations = await recovery();
    // the change listener's reconnect drops every cache, perhaps just as recovery() saw it ready: one
    // request after it fills them again, so that in the blackhole below the burst meets the pool's
    // wait queue instead of all waiting on one cache load
    expect((await api('GET', '/employees?limit=1')).kind).toBe('ok');

    // (b) the proxy resets every connection, open and new, for 2 s
    phase = 'reset';
    proxy.setMode('reset');
    await sleep(300);
    const readyDuringReset = await readyz();
    await sleep(1700);

    // then blackholes them for at least 6 s: nothing passes, nothing is closed
    phase = 'blackhole';
    proxy.setMode('blackhole');
    const blackholed = performance.now();
    const tokenRequest = (endpoint: string, clientId: string, secret: string) =>
      send('POST token (uncached)', endpoint, {
        method: 'POST',
        oauth: true,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }).toString(),
      });
    const globex = demoCredentials(dataDir).find((c) => c.environment === 'production' && c.tenant === 'globex');
    if (!globex) throw new Error('no demo credential for globex');
    const [probe, readyDuringBlackhole, burst, uncachedTenant, uncachedClient] = await Promise.all([
      api('GET', '/employees?limit=2'),
      sleep(200).then(readyz),
      sleep(500).then(() => Promise.all(Array.from({ length: 50 }, () => api('GET', '/employees?limit=3')))),
      // a tenant not yet looked up (the authentication host's own lookup fails) and a client not
      // yet cached (oidc-provider's client lookup fails): both the OAuth 503, never a 500
      tokenRequest(globex.token_endpoint, globex.client_id, globex.client_secret),
      tokenRequest(acme.token_endpoint, `tc_${randomUUID()}`, 'wrong'),
    ]);
    await sleep(Math.max(0, 6000 - (performance.now() - blackholed)));

    phase = 'recovering';
    proxy.setMode('forward');
    const afterBlackhole = await recovery();
    phase = 'after';
    await sleep(2000);
    stopping = true;
    await load;

    // the process never exited
    expect(exits).toEqual([]);
    expect(server.child.exitCode).toBeNull();

    const during = outcomes.filter((o) => o.started !== 'before' || o.ended !== 'before');
    const other5xx = outcomes.filter((o) => o.status >= 500 && o.kind !== 'unavailable');
    const unexpected = outcomes.filter((o) => o.kind === 'other' || o.kind === 'hung');
    const fastRefusals = burst.filter((o) => o.kind === 'unavailable' && o.ms < 1000).length;
    const report = {
      requests: outcomes.length,
      requestsDuringFaults: during.length,
      unavailable503: outcomes.filter((o) => o.kind === 'unavailable').length,
      other5xx: other5xx.length,
      idempotencyInUse409: outcomes.filter((o) => o.kind === 'in-use').length,
      backendsTerminated: terminated,
      recoveryAfterTerminationsMs: Math.round(afterTerminations),
      recoveryAfterBlackholeMs: Math.round(afterBlackhole),
      blackholed503Ms: Math.round(probe.ms),
      burstRefusedWithin1s: fastRefusals,
      burstSlowestMs: Math.round(Math.max(...burst.map((o) => o.ms))),
      ackedSingles: ackedSingles.size,
      ackedBatches: ackedBatches.size,
      attemptedBatches: attemptedBatches.length,
      ackedEmployees: ackedEmployees.size,
    };
    process.stdout.write(`database faults: ${JSON.stringify(report)}\n`); // the numbers the issue asks to report

    expect(other5xx).toEqual([]);
    expect(unexpected).toEqual([]);
    // before the faults and after the recovery: every request succeeded
    expect(outcomes.filter((o) => (o.started === 'after' || o.ended === 'before') && o.kind !== 'ok')).toEqual([]);
    expect(terminated).toBeGreaterThan(0);
    expect(readyDuringReset.status).toBe(503);
    expect(readyDuringBlackhole.status).toBe(503);
    expect(probe.kind).toBe('unavailable');
    expect(uncachedTenant).toMatchObject({ status: 503, kind: 'unavailable', body: { error: 'temporarily_unavailable' } });
    expect(uncachedClient).toMatchObject({ status: 503, kind: 'unavailable', body: { error: 'temporarily_unavailable' } });
    // bounded by the query and connect timeouts (5 s each); slack for a loaded machine
    expect(probe.ms).toBeLessThan(7000);
    // the wait queue is bounded: past its 20 places the burst is refused at once
    expect(fastRefusals).toBeGreaterThanOrEqual(20);
    expect(burst.every((o) => o.kind === 'unavailable')).toBe(true);
    expect((await readyz()).status).toBe(200);
    // the issue asks for 2 s; slack for a machine shared with other suites
    expect(afterTerminations).toBeLessThan(4000);
    expect(afterBlackhole).toBeLessThan(4000);

    // every acknowledged write exactly once; every batch all or nothing
    const data = new pg.Client({ connectionString: database.url });
    await data.connect();
    cleanup.push(() => data.end());
    const counts = new Map(
      (
        await data.query<{ source_device: string; n: string }>(
          `SELECT source_device, count(*) AS n FROM clockings WHERE source_device LIKE 'single-%' OR source_device LIKE 'batch-%'
              OR source_device LIKE 'probe-%' GROUP BY source_device`,
        )
      ).rows.map((r) => [r.source_device, Number(r.n)]),
    );
    expect([...ackedSingles.keys()].filter((tag) => counts.get(tag) !== 1)).toEqual([]);
    expect(attemptedBatches.filter((tag) => ![0, 1000].includes(counts.get(tag) ?? 0))).toEqual([]);
    expect([...ackedBatches.keys()].filter((tag) => counts.get(tag) !== 1000)).toEqual([]);
    const storedIds = new Set(
      (await data.query<{ id: string }>(`SELECT id FROM clockings WHERE source_device LIKE 'batch-%'`)).rows.map((r) => r.id),
    );
    expect([...ackedBatches.values()].flat().filter((id) => !storedIds.has(id))).toEqual([]);
    expect(ackedSingles.size).toBeGreaterThan(0);
    expect(ackedBatches.size).toBeGreaterThan(0);

    // webhooks: every acknowledged employee delivered at least once
    await eventually(async () => {
      const delivered = new Set(receiver.received.map((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id));
      expect([...ackedEmployees].filter((id) => !delivered.has(id))).toEqual([]);
    }, 20_000);
    // the staged key was promoted, faults or not
    await eventually(async () => {
      const keys = await adminCall('GET', '/tenants/acme/keys');
      expect((keys.body.data as { kid: string; state: string }[]).find((k) => k.kid === stagedKid)?.state).toBe('current');
    }, 10_000);
    expect(exits).toEqual([]);
    await server.stop();
  }, 180_000);
});
