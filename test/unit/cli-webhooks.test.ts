/**
 * `tenant-connect webhooks …` against a scripted admin API: what each flag sends, what is printed,
 * the exit codes. The real server is exercised in test/e2e/cli-webhooks.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpRequest, HttpResponse } from '../../src/cli/http.ts';
import { runCli } from '../../src/cli/run.ts';

const ADMIN = 'http://admin.connect.localhost:3000/v1';
const TOKEN = 'http://authentication.connect.localhost:3000/platform/connect/token';
const ID = '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
const HOOK = `${ADMIN}/tenants/acme/webhooks/${ID}`;

let dataDir: string;
beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-webhooks-'));
  const entry = { client_id: 'admin', client_secret: 'secret', scope: 'platform:admin', token_endpoint: TOKEN, admin_api: ADMIN };
  fs.writeFileSync(path.join(dataDir, 'admin-credentials.json'), JSON.stringify({ environments: { production: entry } }), {
    mode: 0o600,
  });
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

type Route = (request: HttpRequest) => HttpResponse | undefined;
const json = (status: number, body: unknown): HttpResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const on =
  (method: string, url: string, response: HttpResponse): Route =>
  (request) =>
    request.method === method && request.url === url ? response : undefined;

async function run(argv: string[], routes: Route[] = []) {
  const requests: HttpRequest[] = [];
  let stdout = '';
  let stderr = '';
  const code = await runCli([...argv, '--data-dir', dataDir], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: os.tmpdir(),
    http: async (request) => {
      requests.push(request);
      if (request.url === TOKEN) return json(200, { access_token: 'the-token', token_type: 'Bearer', expires_in: 300 });
      for (const route of routes) {
        const response = route(request);
        if (response) return response;
      }
      return json(404, { title: 'Not Found', status: 404, detail: `no route for ${request.method} ${request.url}` });
    },
  });
  const api = requests.filter((r) => r.url !== TOKEN);
  return { code, stdout, stderr, api, body: (i = 0) => JSON.parse(api[i]?.body ?? 'null') as unknown };
}

const subscription = (extra: Record<string, unknown> = {}) => ({
  id: ID,
  url: 'https://hooks.example.com/in',
  event_types: ['employee.*'],
  description: '',
  enabled: true,
  disabled_reason: null,
  previous_secret_expires_at: null,
  created_at: '2026-11-23T10:00:00.000Z',
  updated_at: '2026-11-23T10:00:00.000Z',
  ...extra,
});
const delivery = (extra: Record<string, unknown> = {}) => ({
  id: 'd1',
  subscription_id: ID,
  event_id: 'e1',
  event_type: 'webhook.test',
  status: 'pending',
  attempts: 0,
  next_attempt_at: '2026-11-23T10:00:00.000Z',
  last_attempt_at: null,
  last_status_code: null,
  last_error: null,
  delivered_at: null,
  created_at: '2026-11-23T10:00:00.000Z',
  ...extra,
});

describe('webhooks commands', () => {
  it('create sends url, the event list, description and enabled; prints the secret once', async () => {
    const result = await run(
      [
        'webhooks',
        'create',
        'acme',
        '--url',
        'https://hooks.example.com/in',
        '--events',
        'employee.*,clocking.created',
        '--description',
        'HR',
        '--disabled',
      ],
      [on('POST', `${ADMIN}/tenants/acme/webhooks`, json(201, { ...subscription({ enabled: false }), secret: 'whsec_abc' }))],
    );
    expect(result.code).toBe(0);
    expect(result.body()).toEqual({
      url: 'https://hooks.example.com/in',
      event_types: ['employee.*', 'clocking.created'],
      description: 'HR',
      enabled: false,
    });
    expect(result.stdout).toMatch(/^secret +whsec_abc$/m);
    expect(result.stdout).toContain('Store the signing secret now: it will not be shown again.');
  });

  it('create without --events: usage, nothing sent', async () => {
    const result = await run(['webhooks', 'create', 'acme', '--url', 'https://hooks.example.com/in']);
    expect(result).toMatchObject({ code: 2, api: [] });
    expect(result.stderr.split('\n')[0]).toBe('error: missing --events');
  });

  it('update sends only what was given; --enable and --disable exclude each other', async () => {
    const result = await run(
      ['webhooks', 'update', 'acme', ID, '--events', 'employee.created', '--enable'],
      [on('PATCH', HOOK, json(200, subscription()))],
    );
    expect(result.code).toBe(0);
    expect(result.body()).toEqual({ event_types: ['employee.created'], enabled: true });
    expect((await run(['webhooks', 'update', 'acme', ID, '--enable', '--disable'])).code).toBe(2);
  });

  it('rotate-secret sends the grace period in seconds and says until when the old secret signs', async () => {
    const rotated = { subscription: subscription({ previous_secret_expires_at: '2026-11-24T10:00:00.000Z' }), secret: 'whsec_new' };
    const result = await run(
      ['webhooks', 'rotate-secret', 'acme', ID, '--grace', '24h'],
      [on('POST', `${HOOK}/rotate-secret`, json(200, rotated))],
    );
    expect(result.code).toBe(0);
    expect(result.body()).toEqual({ grace_seconds: 86_400 });
    expect(result.stdout).toContain('The old secret also signs until 2026-11-24T10:00:00Z (1d).');
    expect(result.stdout).toMatch(/^secret +whsec_new$/m);
    const bad = await run(['webhooks', 'rotate-secret', 'acme', ID, '--grace', 'a while']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--grace expects seconds or a duration');
  });

  it('deliveries: status and limit as query, a table of attempts and answers', async () => {
    const result = await run(
      ['webhooks', 'deliveries', 'acme', ID, '--status', 'failed', '--limit', '10'],
      [
        on(
          'GET',
          `${HOOK}/deliveries?status=failed&limit=10`,
          json(200, {
            data: [delivery({ status: 'failed', attempts: 8, last_status_code: 500, last_error: 'HTTP 500', next_attempt_at: null })],
            next: `${HOOK}/deliveries?cursor=x`,
          }),
        ),
      ],
    );
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[1]).toBe(
      'd1  webhook.test  failed  8         500        -             2026-11-23T10:00:00Z  HTTP 500',
    );
    expect(result.stderr).toContain('More deliveries');
    expect((await run(['webhooks', 'deliveries', 'acme', ID, '--status', 'lost'])).code).toBe(2);
  });

  it('delivery shows the record and the event body; event-types lists the types', async () => {
    const event = {
      id: 'e1',
      type: 'webhook.test',
      tenant: 'acme',
      environment: 'production',
      occurred_at: '2026-11-23T10:00:00.000Z',
      data: {},
    };
    const shown = await run(
      ['webhooks', 'delivery', 'acme', ID, 'd1'],
      [on('GET', `${HOOK}/deliveries/d1`, json(200, { ...delivery(), event }))],
    );
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^event type +webhook\.test$/m);
    expect(shown.stdout).toContain(`event (the body sent):\n${JSON.stringify(event, null, 2)}\n`);
    const types = await run(
      ['webhooks', 'event-types'],
      [
        on(
          'GET',
          `${ADMIN}/webhook-event-types`,
          json(200, { data: [{ type: 'employee.created' }, { type: 'webhook.test' }], next: null }),
        ),
      ],
    );
    expect(types).toMatchObject({ code: 0, stdout: 'TYPE\nemployee.created\nwebhook.test\n' });
  });

  it('redeliver posts to the delivery', async () => {
    const result = await run(
      ['webhooks', 'redeliver', 'acme', ID, 'd1'],
      [on('POST', `${HOOK}/deliveries/d1/redeliver`, json(202, delivery({ id: 'd2', event_type: 'employee.created' })))],
    );
    expect(result).toMatchObject({ code: 0, stdout: 'Queued delivery d2: employee.created (event e1) again.\n' });
  });

  it('test --wait reports a failed first attempt and exits 1', async () => {
    const result = await run(
      ['webhooks', 'test', 'acme', ID, '--wait'],
      [
        on('POST', `${HOOK}/test`, json(202, delivery())),
        on(
          'GET',
          `${HOOK}/deliveries/d1`,
          json(200, delivery({ attempts: 1, last_status_code: 503, last_error: 'HTTP 503', next_attempt_at: '2026-11-23T10:00:05.000Z' })),
        ),
      ],
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'error: the test event was not delivered (delivery d1): Not delivered: HTTP 503; next attempt 2026-11-23T10:00:05Z.\n',
    );
  });
});
