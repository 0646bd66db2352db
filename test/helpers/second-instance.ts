/** A second instance of a test server's app on the same database (its own caches, its own change
 * listener, its own limits store), serving on its own loopback port: what two processes of a fleet are. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/observability/logger.ts';
import { createApp } from '../../src/server.ts';
import type { TestServer } from './server.ts';

export async function startSecondInstance(server: TestServer) {
  const app = createApp({
    config: server.config,
    db: server.booted.db,
    log: createLogger('silent'),
    keyEncryption: server.booted.keyEncryption,
  });
  const stopInvalidation = await app.startInvalidation();
  const listener = http.createServer(app.app.callback());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    port: (listener.address() as AddressInfo).port,
    booted: { app },
    async close() {
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await stopInvalidation();
      await app.counters.close();
    },
  };
}
