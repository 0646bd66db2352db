/**
 * `tenant-connect webhooks …` and `tenant-connect worker` as a user runs them: child processes
 * against a real server, events arriving at a receiver on loopback and verified with the
 * standardwebhooks package. The standalone worker needs Postgres (TEST_DATABASE_URL).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, apiClient } from '../helpers/api-client.ts';
import { createFreshDatabase } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** the environment without the caller's CLI and server settings */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const drop = (key: string) =>
    key.startsWith('TENANT_CONNECT_') || key.startsWith('WEBHOOK_') || ['DATA_DIR', 'DATABASE_URL', 'KEY_ENCRYPTION_KEY'].includes(key);
  return { ...(Object.fromEntries(Object.entries(process.env).filter(([key]) => !drop(key))) as Record<string, string>), ...extra };
}

function runCli(args: string[], options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const argv = [MAIN, ...args, ...(options.dataDir === undefined ? [] : ['--data-dir', options.dataDir])];
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, argv, { env: cleanEnv(options.env), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Subscription {
  id: string;
  url: string;
  event_types: string[];
  description: string;
  enabled: boolean;
  previous_secret_expires_at: string | null;
}
interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
}

const header = (stdout: string) => stdout.split('\n')[0]?.split(/\s{2,}/);

async function cliSession(server: TestServer) {
  const dataDir = server.config.dataDir;
  const cli = (...args: string[]) => runCli(args, { dataDir });
  const json = async <T>(...args: string[]): Promise<T> => {
    const result = await cli(...args, '--json');
    if (result.code !== 0) throw new Error(`tenant-connect ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  };
  return { cli, json };
}

let employeeSeq = 0;
async function createEmployee(acme: ApiClient): Promise<{ id: string }> {
  employeeSeq += 1;
  const created = await acme.request<{ id: string }>('POST', '/employees', {
    body: { employee_number: `CLI-WH-${employeeSeq}`, first_name: 'Cli', last_name: 'Hook' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

describe('tenant-connect webhooks against the real admin API', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  let acme: ApiClient;
  let cli: Awaited<ReturnType<typeof cliSession>>['cli'];
  let json: Awaited<ReturnType<typeof cliSession>>['json'];

  beforeAll(async () => {
    server = await startTestServer('pglite', { env: { WEBHOOK_ALLOW_LOOPBACK: 'true', WEBHOOK_POLL_MS: '100' } });
    receiver = await startWebhookReceiver();
    acme = await apiClient(server, 'production', 'acme');
    ({ cli, json } = await cliSession(server));
  });
  afterAll(async () => {
    await receiver?.close();
    await server?.close();
  });

  it('create, an event arrives signed, deliveries, redeliver, test, rotate, disable, delete', async () => {
    const created = await cli(
      'webhooks',
      'create',
      'acme',
      '--url',
      receiver.url,
      '--events',
      'employee.*,clocking.created',
      '--description',
      'HR sync',
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('will not be shown again');
    const id = /^id +(\S+)$/m.exec(created.stdout)?.[1] as string;
    const secret = /^secret +(whsec_\S+)$/m.exec(created.stdout)?.[1] as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(secret).toBeTruthy();
    expect(created.stdout).toMatch(/^events +employee\.\*,clocking\.created$/m);

    const listed = await cli('webhooks', 'list', 'acme');
    expect(header(listed.stdout)).toEqual(['ID', 'URL', 'EVENTS', 'ENABLED', 'CREATED', 'DESCRIPTION']);
    expect(listed.stdout).toContain(id);
    expect(await json<Subscription>('webhooks', 'get', 'acme', id)).toMatchObject({
      id,
      url: receiver.url,
      event_types: ['employee.*', 'clocking.created'],
      description: 'HR sync',
      enabled: true,
    });

    // a change through the resource API reaches the receiver, signed with the printed secret
    const employee = await createEmployee(acme);
    await eventually(async () => expect(receiver.received).toHaveLength(1), 10_000);
    const first = receiver.received[0];
    expect(new Webhook(secret).verify(first?.body ?? '', first?.headers ?? {})).toMatchObject({
      type: 'employee.created',
      data: { id: employee.id },
    });

    const deliveries = await cli('webhooks', 'deliveries', 'acme', id);
    expect(deliveries.code).toBe(0);
    expect(header(deliveries.stdout)).toEqual(['ID', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST CODE', 'NEXT ATTEMPT', 'CREATED', 'LAST ERROR']);
    await eventually(async () => {
      const page = await json<{ data: Delivery[] }>('webhooks', 'deliveries', 'acme', id, '--status', 'delivered');
      expect(page.data).toHaveLength(1);
    }, 10_000);
    const delivered = await cli('webhooks', 'deliveries', 'acme', id);
    expect(delivered.stdout.split('\n')[1]).toMatch(/^\S+ +employee\.created +delivered +1 +204 +- +\S+ +-$/);
    const [delivery] = (await json<{ data: Delivery[] }>('webhooks', 'deliveries', 'acme', id)).data;
    const shown = await cli('webhooks', 'delivery', 'acme', id, delivery?.id as string);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^status +delivered$/m);
    expect(shown.stdout).toContain('event (the body sent):');
    expect(JSON.parse(shown.stdout.split('event (the body sent):\n')[1] ?? '')).toEqual(JSON.parse(first?.body ?? ''));

    // the same event again: a new delivery, the same webhook-id
    const again = await json<Delivery>('webhooks', 'redeliver', 'acme', id, delivery?.id as string);
    expect(again).toMatchObject({ event_id: delivery?.event_id, event_type: 'employee.created', status: 'pending' });
    expect(again.id).not.toBe(delivery?.id);
    await eventually(async () => expect(receiver.received).toHaveLength(2), 10_000);
    expect(receiver.received[1]?.headers['webhook-id']).toBe(first?.headers['webhook-id']);

    const tested = await cli('webhooks', 'test', 'acme', id, '--wait');
    expect(tested.code, tested.stderr).toBe(0);
    expect(tested.stdout).toMatch(/^Delivery \S+ \(webhook\.test\): Delivered \(HTTP 204, attempt 1\)\.$/m);
    expect(receiver.received.at(-1)?.body).toContain('"webhook.test"');

    // rotation: the new secret is printed once; both sign during the grace period
    const rotated = await cli('webhooks', 'rotate-secret', 'acme', id, '--grace', '1h');
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain('will not be shown again');
    expect(rotated.stdout).toMatch(/The old secret also signs until \S+ \(1h\)\./);
    const newSecret = /^secret +(whsec_\S+)$/m.exec(rotated.stdout)?.[1] as string;
    expect(newSecret).not.toBe(secret);
    expect((await cli('webhooks', 'test', 'acme', id, '--wait')).code).toBe(0);
    const signed = receiver.received.at(-1);
    expect(() => new Webhook(newSecret).verify(signed?.body ?? '', signed?.headers ?? {})).not.toThrow();
    expect(() => new Webhook(secret).verify(signed?.body ?? '', signed?.headers ?? {})).not.toThrow();
    expect(
      (await json<{ subscription: Subscription }>('webhooks', 'rotate-secret', 'acme', id, '--grace', '0')).subscription,
    ).toMatchObject({
      previous_secret_expires_at: null,
    });

    expect((await json<Subscription>('webhooks', 'update', 'acme', id, '--disable')).enabled).toBe(false);
    const refused = await cli('webhooks', 'test', 'acme', id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: Conflict \(409\): The subscription is disabled/);
    expect(await json<Subscription>('webhooks', 'update', 'acme', id, '--enable', '--events', 'employee.created')).toMatchObject({
      enabled: true,
      event_types: ['employee.created'],
    });

    expect(await cli('webhooks', 'delete', 'acme', id)).toMatchObject({ code: 0, stdout: `Deleted webhook ${id}.\n` });
    const gone = await cli('webhooks', 'get', 'acme', id);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: Not Found \(404\): No webhook subscription/);
  }, 90_000);

  it("a tenant admin manages its own tenant's webhooks only", async () => {
    await json('tenants', 'create', 'cli-hooks-self', '--name', 'Hooks self-service');
    const admin = await json<{ client_id: string; client_secret: string }>(
      'clients',
      'create',
      'cli-hooks-self',
      '--name',
      'Tenant admin',
      '--scopes',
      'tenant:admin',
    );
    const credentials = JSON.parse(fs.readFileSync(path.join(server.config.dataDir, 'admin-credentials.json'), 'utf8')) as {
      environments: Record<string, { admin_api: string }>;
    };
    const asTenantAdmin = [
      '--admin-url',
      credentials.environments.production?.admin_api as string,
      '--token-url',
      server.url('authentication.connect.localhost', '/tenants/cli-hooks-self/connect/token'),
      '--client-id',
      admin.client_id,
      '--client-secret',
      admin.client_secret,
    ];
    const own = await runCli(['webhooks', 'create', 'cli-hooks-self', '--url', receiver.url, '--events', '*', '--json', ...asTenantAdmin]);
    expect(own.code, own.stderr).toBe(0);
    expect(JSON.parse(own.stdout)).toMatchObject({ event_types: ['*'], secret: expect.stringMatching(/^whsec_/) });
    expect(own.stderr).toContain('will not be shown again');
    const types = await runCli(['webhooks', 'event-types', ...asTenantAdmin]);
    expect(types.code, types.stderr).toBe(0);
    expect(header(types.stdout)).toEqual(['TYPE']);
    expect(types.stdout.split('\n')).toEqual(expect.arrayContaining(['employee.created', 'clocking.created', 'webhook.test']));
    const other = await runCli(['webhooks', 'list', 'acme', ...asTenantAdmin]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^error: /);
  });

  describe.concurrent('errors: one clear line, non-zero exit', () => {
    it('a tenant that does not exist: the problem, exit 1', async () => {
      const result = await cli('webhooks', 'list', 'no-such-tenant');
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toMatch(/^error: Not Found \(404\)/);
    });

    it('missing --url: usage, exit 2, nothing sent', async () => {
      const result = await cli('webhooks', 'create', 'acme', '--events', 'employee.*');
      expect(result.code).toBe(2);
      expect(result.stderr.split('\n')).toEqual(['error: missing --url', "Run 'tenant-connect webhooks create --help' for usage.", '']);
    });

    it('an event type that matches nothing: the validation failure, exit 1', async () => {
      const result = await cli('webhooks', 'create', 'acme', '--url', receiver.url, '--events', 'employee.created,employee.archived');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: Validation Failed \(422\)/);
      expect(result.stderr).toContain('/event_types/1');
    });

    it('update with nothing to change, or both --enable and --disable: usage, exit 2', async () => {
      expect((await cli('webhooks', 'update', 'acme', '00000000-0000-0000-0000-000000000000')).code).toBe(2);
      expect((await cli('webhooks', 'update', 'acme', '00000000-0000-0000-0000-000000000000', '--enable', '--disable')).code).toBe(2);
    });

    it('worker on the embedded database (no DATABASE_URL): refused with the reason, exit 1', async () => {
      const result = await runCli(['worker'], { dataDir: server.config.dataDir });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: the worker needs the Postgres at DATABASE_URL: the embedded database .* is single-process/);
    });
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('tenant-connect worker beside a server that does not deliver (Postgres)', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  let worker: ChildProcess | undefined;

  beforeAll(async () => {
    server = await startTestServer('postgres', { env: { WEBHOOK_WORKER: 'false', WEBHOOK_ALLOW_LOOPBACK: 'true' } });
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await receiver?.close();
    await server?.close();
  });

  it('delivers what the server only recorded, and stops on SIGTERM', async () => {
    const { json } = await cliSession(server);
    const acme = await apiClient(server, 'production', 'acme');
    const subscription = await json<Subscription>('webhooks', 'create', 'acme', '--url', receiver.url, '--events', 'employee.created');
    await createEmployee(acme);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [waiting] = (await json<{ data: Delivery[] }>('webhooks', 'deliveries', 'acme', subscription.id)).data;
    expect(waiting).toMatchObject({ event_type: 'employee.created', status: 'pending', attempts: 0 });
    expect(receiver.received).toHaveLength(0);

    const child = spawn(NODE, [MAIN, 'worker', '--data-dir', server.config.dataDir], {
      env: cleanEnv({ DATABASE_URL: server.config.databaseUrl as string, WEBHOOK_POLL_MS: '100', LOG_LEVEL: 'info' }),
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker = child;
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    await eventually(async () => expect(output).toContain('webhook delivery worker started'), 30_000);
    await eventually(async () => expect(receiver.received).toHaveLength(1), 15_000);
    expect(JSON.parse(receiver.received[0]?.body ?? '{}')).toMatchObject({ type: 'employee.created' });
    await eventually(async () => {
      const [done] = (await json<{ data: Delivery[] }>('webhooks', 'deliveries', 'acme', subscription.id)).data;
      expect(done).toMatchObject({ id: waiting?.id, status: 'delivered', attempts: 1, last_status_code: 204 });
    }, 10_000);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('webhook delivery worker stopped');
    expect(output).not.toMatch(/"level":(50|60)/);
  }, 90_000);

  it('refuses a key-encryption key that decrypts nothing the server stored', async () => {
    const result = await runCli(['worker'], {
      env: { DATABASE_URL: server.config.databaseUrl as string, KEY_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64url') },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: configuration error: KEY_ENCRYPTION_KEY: the stored signing key \S+ cannot be decrypted/);
  });

  it('refuses a database the server has not migrated', async () => {
    const empty = await createFreshDatabase('postgres');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-worker-'));
    try {
      const result = await runCli(['worker'], {
        dataDir,
        env: { DATABASE_URL: empty.url as string, KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64url') },
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: the database at DATABASE_URL is not migrated .*start the server once/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
      await empty.drop();
    }
  });
});
