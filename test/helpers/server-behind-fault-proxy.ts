/**
 * A test server on a fresh Postgres database whose every connection goes through a loopback fault
 * proxy (tcp-proxy.ts): the arrangement of the fault suites that break the database under a running
 * server. `close` forwards again first, so the server's own shutdown reaches the database.
 */
import { createFreshDatabase, type FreshDatabase } from './databases.ts';
import { startTestServer, type TestServer } from './server.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

export interface ServerBehindFaultProxy {
  readonly database: FreshDatabase;
  readonly proxy: TcpProxy;
  readonly server: TestServer;
  close(): Promise<void>;
}

/** `adminUrl`: the Postgres server's URL (TEST_DATABASE_URL); `env`: more settings for the server. */
export async function startServerBehindFaultProxy(adminUrl: string, env: Record<string, string> = {}): Promise<ServerBehindFaultProxy> {
  const database = await createFreshDatabase('postgres');
  const target = new URL(adminUrl);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const server = await startTestServer('postgres', { env: { DATABASE_URL: proxy.urlFor(database.url as string), ...env } });
  return {
    database,
    proxy,
    server,
    async close() {
      proxy.setMode('forward');
      await server.close();
      await proxy.close();
      await database.drop();
    },
  };
}
