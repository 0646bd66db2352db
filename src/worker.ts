/**
 * A process edge beside main.ts: webhook delivery alone, without the HTTP server (`tenant-connect
 * worker`), for operators who scale delivery apart from the API. It starts from the parts boot.ts
 * starts the server with (startup.ts: the key-encryption keys, their check against what is stored,
 * the delivery worker as WEBHOOK_* configures it), on the server's configuration and database. It
 * never migrates or seeds: it refuses to start on a schema the server has not migrated yet, and on
 * the embedded database, which only one process may open (there the server's own worker delivers).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { createDatabase, type Database } from './db/database.ts';
import { createUsageCounter } from './db/usage-counts.ts';
import { describeStartupError } from './startup-errors.ts';
import { MIGRATIONS_DIR } from './db/migrate.ts';
import { createLogger } from './observability/logger.ts';
import { assertKeysDecryptStored, createWebhookWorker, loadKeyEncryption } from './startup.ts';
import type { DeliveryWorker } from './webhooks/delivery/worker.ts';

/** A reason not to start, for the operator: one line, no stack trace. */
export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
}

export interface StandaloneWorker {
  readonly config: Config;
  readonly log: Logger;
  /** stops claiming, waits for the round in flight to be recorded, closes the database */
  stop(signal?: string): Promise<void>;
}

/** The migrations this code has that the database has not applied. */
export async function pendingMigrations(db: Database, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^\d{14}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  const [table] = await db.admin.query<{ exists: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS exists`);
  if (!table?.exists) return files;
  const done = new Set((await db.admin.query<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name));
  return files.filter((f) => !done.has(f));
}

/** postgres://user:secret@host:5432/db → host:5432/db, for the log */
function databaseLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/**
 * Loads the configuration from `env` as the server does, opens its database and starts delivering.
 * Throws WorkerStartError when it must not run; resolves once the worker is listening.
 */
export async function startStandaloneWorker(
  env: Record<string, string | undefined>,
  options: { log?: Logger } = {},
): Promise<StandaloneWorker> {
  let config: Config;
  try {
    config = loadConfig(env as NodeJS.ProcessEnv);
  } catch (error) {
    if (error instanceof ConfigError) throw new WorkerStartError(`configuration error: ${error.message}`);
    throw error;
  }
  if (!config.databaseUrl) {
    throw new WorkerStartError(
      'the worker needs the Postgres at DATABASE_URL: the embedded database (no DATABASE_URL) is single-process, ' +
        'so the server delivers webhooks itself there (WEBHOOK_WORKER, on by default)',
    );
  }
  // a KEK generated here would decrypt nothing the server wrote
  const kekFile = path.join(config.dataDir, 'key-encryption-key');
  if (!config.keyEncryptionKey && !fs.existsSync(kekFile)) {
    throw new WorkerStartError(
      `no key-encryption key: set KEY_ENCRYPTION_KEY (and KEY_ENCRYPTION_KEY_PREVIOUS) as for the server, ` +
        `or DATA_DIR to the server's data directory (${kekFile} does not exist)`,
    );
  }
  const log = (options.log ?? createLogger(config.logLevel)).child({ component: 'webhook-worker' });
  const { keyEncryption } = loadKeyEncryption(config);

  const db = await createDatabase({
    databaseUrl: config.databaseUrl,
    databaseAppUrl: config.databaseAppUrl,
    settings: config.database,
  });
  let worker: DeliveryWorker;
  // its delivery attempts count in the tenants' usage, as the server's own worker's do
  const usageCounts = createUsageCounter(db, log, { flushIntervalMs: config.usage.flushMs, maxPending: config.usage.bufferSize });
  try {
    const pending = await pendingMigrations(db);
    if (pending.length) {
      throw new WorkerStartError(
        `the database at DATABASE_URL is not migrated (${pending.length} pending: ${pending.join(', ')}): ` +
          'start the server once (npm start) with this DATABASE_URL to apply its migrations, then start the worker',
      );
    }
    await assertKeysDecryptStored(db, keyEncryption);
    worker = createWebhookWorker(config, db, keyEncryption, log, usageCounts);
    await worker.start();
    usageCounts.start();
  } catch (error) {
    await db.close().catch(() => {});
    if (error instanceof ConfigError) throw new WorkerStartError(`configuration error: ${error.message}`);
    // the same one line the server gives for a database that is missing, refuses the login or is down
    const problem = describeStartupError(error, config);
    throw problem ? new WorkerStartError(problem) : error;
  }
  const { worker: _inServer, ...settings } = config.webhooks;
  log.info(
    { database: databaseLabel(config.databaseUrl), kek: keyEncryption.currentKeyId, ...settings },
    'webhook delivery worker started (no HTTP server)',
  );

  let stopping: Promise<void> | undefined;
  return {
    config,
    log,
    stop(signal) {
      stopping ??= (async () => {
        log.info(signal ? { signal } : {}, 'webhook delivery worker stopping: finishing the deliveries in flight');
        try {
          await worker.stop();
          await usageCounts.stop();
        } finally {
          await db.close();
        }
        log.info('webhook delivery worker stopped');
      })();
      return stopping;
    },
  };
}
