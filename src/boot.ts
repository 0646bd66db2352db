/**
 * Everything a running instance needs, in order: database, migrations, key-encryption keys
 * (checked against what is stored), demo data (development only), the app, the signing-key
 * rotation worker. Shared by main.ts and the tests, so tests boot exactly
 * what production boots.
 */
import type { Logger } from 'pino';
import type { DemoCredential, loadDemoOrganisation, seedDemo } from './admin/operator/demo-seed.ts';
import { type BootstrapResult, bootstrapPlatform } from './admin/operator/bootstrap.ts';
import type { KeyEncryption } from './auth/key-encryption.ts';
import { startKeyRotationWorker } from './auth/key-rotation.ts';
import type { Config } from './config/config.ts';
import { createDatabase, type Database } from './db/database.ts';
import { migrate } from './db/migrate.ts';
import { createApp, type App } from './server.ts';
import { createRetentionJob, type RetentionJob } from './admin/operator/retention-job.ts';
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
  /** the retention job of this instance (running when RETENTION_WORKER is on) */
  readonly retention: RetentionJob;
  /** stops listening for changes and closes the database */
  close(): Promise<void>;
}

/** The steps of a start, in order, for progress lines (the first start takes seconds). */
export type BootStep = 'opening the database' | 'migrating' | 'seeding the demo tenants';

export interface BootOptions {
  /** the embedded database in memory instead of DATA_DIR (tests) */
  readonly inMemory?: boolean;
  readonly now?: () => number;
  /** told before each step; tests pass nothing and boot silently */
  readonly onProgress?: (step: BootStep) => void;
  /** the demo data, run when SEED_DEMO is on: the process edge passes it in, so a production
   * instance (and the standalone worker) never loads demo code */
  readonly seed?: typeof seedDemo;
  /** the demo organisation for sandbox resets with {"seed":"demo"}, passed in like `seed` */
  readonly loadDemoOrganisation?: typeof loadDemoOrganisation;
}

export async function boot(config: Config, log: Logger, options: BootOptions = {}): Promise<Booted> {
  options.onProgress?.('opening the database');
  const db = await createDatabase({
    databaseUrl: config.databaseUrl,
    databaseAppUrl: config.databaseAppUrl,
    settings: config.database,
    dataDir: options.inMemory ? undefined : config.dataDir,
  });
  let counters: App['counters'] | undefined;
  try {
    options.onProgress?.('migrating');
    const appliedMigrations = await migrate(db);
    const { keyEncryption, generatedKeyFile } = loadKeyEncryption(config);
    await assertKeysDecryptStored(db, keyEncryption);
    const admin = await bootstrapPlatform(db, keyEncryption, config);
    const seed = config.seedDemo ? options.seed : undefined;
    if (seed) options.onProgress?.('seeding the demo tenants');
    const demoCredentials = seed ? await seed(db, keyEncryption, config) : [];
    const app = createApp({
      config,
      db,
      log,
      keyEncryption,
      ...(options.now ? { now: options.now } : {}),
      ...(options.loadDemoOrganisation ? { loadDemoOrganisation: options.loadDemoOrganisation } : {}),
    });
    counters = app.counters;
    const stopInvalidation = await app.startInvalidation();
    const stopKeyRotation = startKeyRotationWorker(db, log, { intervalMs: config.keyRotationCheckMs });
    app.usage.start();
    app.authEvents.start();
    app.usageCounts.start();
    const webhooks = createWebhookWorker(config, db, keyEncryption, log, app.usageCounts);
    if (config.webhooks.worker) await webhooks.start();
    const retention = createRetentionJob({
      db,
      log,
      config: config.retention,
      now: options.now ?? Date.now,
      onDeleted: app.metrics.retentionDeleted,
    });
    if (config.retention.worker) retention.start();
    const close = async () => {
      await retention.stop();
      await webhooks.stop();
      // after the webhook worker, whose last attempts it counts
      await app.usageCounts.stop();
      await app.usage.stop();
      await app.authEvents.stop();
      await stopKeyRotation();
      await stopInvalidation();
      await app.counters.close();
      await db.close();
    };
    return { db, app, demoCredentials, admin, generatedKeyFile, keyEncryption, appliedMigrations, webhooks, retention, close };
  } catch (error) {
    // its Redis client would otherwise keep reconnecting, and the process alive
    await counters?.close().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}
