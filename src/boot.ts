/**
 * Everything a running instance needs, in order: database, migrations, key-encryption keys
 * (checked against what is stored), demo data (development only), the app, the signing-key
 * rotation worker. Shared by main.ts and the tests, so tests boot exactly
 * what production boots.
 */
import type { Logger } from 'pino';
import { type DemoCredential, seedDemo } from '../seeds/demo.ts';
import { type BootstrapResult, bootstrapPlatform } from './admin/bootstrap.ts';
import type { KeyEncryption } from './auth/key-encryption.ts';
import { startKeyRotationWorker } from './auth/key-rotation.ts';
import type { Config } from './config/config.ts';
import { createDatabase, type Database } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { createApp, type App } from './server.ts';
import { assertKeysDecryptStored, createWebhookWorker, loadKeyEncryption } from './startup.ts';
import type { DeliveryWorker } from './webhooks/delivery/worker.ts';

export interface Booted {
  readonly db: Database;
  readonly app: App;
  readonly demoCredentials: DemoCredential[];
  /** the platform issuer's bootstrap admin credentials, per environment */
  readonly admin: BootstrapResult;
  readonly generatedKeyFile: string | undefined;
  readonly keyEncryption: KeyEncryption;
  readonly appliedMigrations: string[];
  /** the webhook delivery worker of this instance (running when WEBHOOK_WORKER is on) */
  readonly webhooks: DeliveryWorker;
  /** stops listening for changes and closes the database */
  close(): Promise<void>;
}

export async function boot(config: Config, log: Logger, options: { inMemory?: boolean; now?: () => number } = {}): Promise<Booted> {
  const db = await createDatabase({
    databaseUrl: config.databaseUrl,
    databaseAppUrl: config.databaseAppUrl,
    dataDir: options.inMemory ? undefined : config.dataDir,
  });
  try {
    const appliedMigrations = await migrate(db);
    const { keyEncryption, generatedKeyFile } = loadKeyEncryption(config);
    await assertKeysDecryptStored(db, keyEncryption);
    const admin = await bootstrapPlatform(db, keyEncryption, config);
    const demoCredentials = config.seedDemo ? await seedDemo(db, keyEncryption, config) : [];
    const app = createApp({ config, db, log, keyEncryption, ...(options.now ? { now: options.now } : {}) });
    const stopInvalidation = await app.startInvalidation();
    const stopKeyRotation = startKeyRotationWorker(db, log, { intervalMs: config.keyRotationCheckMs });
    app.usage.start();
    const webhooks = createWebhookWorker(config, db, keyEncryption, log);
    if (config.webhooks.worker) await webhooks.start();
    const close = async () => {
      await webhooks.stop();
      await app.usage.stop();
      await stopKeyRotation();
      await stopInvalidation();
      await db.close();
    };
    return { db, app, demoCredentials, admin, generatedKeyFile, keyEncryption, appliedMigrations, webhooks, close };
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
}
