/**
 * Starts the real server (the same boot as `npm start`) on a free loopback port, on a fresh
 * database, and gives tests a fetch that reaches it under real host names: the URL's host goes
 * out as the Host header, and only the DNS lookup is pinned to 127.0.0.1.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from 'undici';
import { type DemoCredential, loadDemoOrganisation, seedDemo } from '../../src/admin/operator/demo-seed.ts';
import { boot, type Booted } from '../../src/boot.ts';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createFreshDatabase, type TestDatabaseKind } from './databases.ts';

export const loopbackAgent = new Agent({
  connect: {
    lookup: (_hostname, options, callback) => {
      if ((options as { all?: boolean }).all)
        (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    },
  },
});

/** fetch for standard clients: every host name resolves to loopback, nothing leaves the machine. */
export const loopbackFetch = ((input: string | URL, init?: RequestInit) =>
  undiciFetch(input, { ...init, dispatcher: loopbackAgent })) as unknown as typeof fetch;

export interface TestServer {
  readonly kind: TestDatabaseKind;
  readonly port: number;
  readonly config: Config;
  readonly booted: Booted;
  readonly credentials: DemoCredential[];
  credential(environment: string, tenant: string): DemoCredential;
  /** http://<host>:<port><path>, with that host in the Host header */
  url(host: string, pathname: string): string;
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** a raw request with an arbitrary Host header (what fetch cannot send) */
  raw(
    options: http.RequestOptions & { body?: string | Buffer },
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

export async function startTestServer(
  kind: TestDatabaseKind,
  /** sharedDatabase: run as a second instance on that server's Postgres database and data */
  options: { env?: Record<string, string>; now?: () => number; sharedDatabase?: TestServer; log?: Logger } = {},
): Promise<TestServer> {
  const shared = options.sharedDatabase?.config;
  const database = shared?.databaseUrl
    ? { url: shared.databaseUrl, appUrl: shared.databaseAppUrl, drop: async () => {} }
    : await createFreshDatabase(kind);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-test-'));
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    SEED_DEMO: 'true',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...(database.appUrl ? { DATABASE_APP_URL: database.appUrl } : {}),
    // a second instance reuses the first one's demo data and key-encryption key
    ...(options.sharedDatabase ? { DATA_DIR: options.sharedDatabase.config.dataDir } : {}),
    ...options.env,
  });
  let booted: Booted;
  try {
    booted = await boot(config, options.log ?? createLogger(config.logLevel), {
      inMemory: true,
      seed: seedDemo,
      loadDemoOrganisation,
      ...(options.now ? { now: options.now } : {}),
    });
  } catch (error) {
    server.close();
    await database.drop();
    throw error;
  }
  server.on('request', booted.app.app.callback());

  const result: TestServer = {
    kind,
    port,
    config,
    booted,
    credentials: booted.demoCredentials,
    credential(environment, tenant) {
      const found = booted.demoCredentials.find((c) => c.environment === environment && c.tenant === tenant);
      if (!found) throw new Error(`no demo credential for ${environment}/${tenant}`);
      return found;
    },
    url: (host, pathname) => `http://${host}:${port}${pathname}`,
    fetch: (url, init) => undiciFetch(url, { ...init, dispatcher: loopbackAgent }),
    raw: ({ body, ...requestOptions }) =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, ...requestOptions, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await booted.close();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return result;
}

/** client_credentials with client_secret_basic, as curl -u would send it. */
export async function requestToken(
  server: TestServer,
  credential: DemoCredential,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  return server.fetch(credential.token_endpoint, {
    method: 'POST',
    headers: {
      ...headers,
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(credential.client_id)}:${encodeURIComponent(credential.client_secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: credential.scope, ...extra }).toString(),
  });
}

export async function accessToken(server: TestServer, credential: DemoCredential): Promise<string> {
  const response = await requestToken(server, credential);
  if (response.status !== 200) throw new Error(`token request failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
