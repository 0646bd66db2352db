/**
 * The startup steps the two process edges share, main.ts (through boot.ts) and worker.ts: the
 * key-encryption keys, their check against what is stored, the delivery worker as WEBHOOK_*
 * configures it. Apart from boot.ts so that worker.ts, which needs these and nothing of the app,
 * does not load the app (oidc-provider, Koa, every route) to deliver webhooks.
 */
import type { Logger } from 'pino';
import {
  checkKeyEncryptionKeys,
  createKeyEncryption,
  type KeyEncryption,
  loadKeyEncryptionKey,
  parsePreviousKeyEncryptionKeys,
} from './auth/key-encryption.ts';
import { ConfigError, type Config } from './config/config.ts';
import type { Database } from './db/database.ts';
import type { UsageCounter } from './db/usage-counts.ts';
import { createDeliveryWorker, type DeliveryWorker } from './webhooks/delivery/worker.ts';

/** The key-encryption keys the configuration names (in development, DATA_DIR's generated key, created if missing). */
export function loadKeyEncryption(config: Config): { keyEncryption: KeyEncryption; generatedKeyFile: string | undefined } {
  const kek = loadKeyEncryptionKey(config.keyEncryptionKey, config.dataDir);
  const keyEncryption = createKeyEncryption(kek.key, parsePreviousKeyEncryptionKeys(config.keyEncryptionKeyPrevious));
  return { keyEncryption, generatedKeyFile: kek.generatedAt };
}

/** Throws ConfigError (KEY_ENCRYPTION_KEY) when the keys cannot decrypt a stored key. */
export async function assertKeysDecryptStored(db: Database, keyEncryption: KeyEncryption): Promise<void> {
  // a wrong KEK would otherwise surface as a failed token request per tenant, much later
  const undecryptable = await checkKeyEncryptionKeys(db, keyEncryption);
  if (undecryptable) throw new ConfigError('KEY_ENCRYPTION_KEY', undecryptable);
}

/** The webhook delivery worker as WEBHOOK_* configures it, its attempts counted in `usageCounts`; not started. */
export function createWebhookWorker(
  config: Config,
  db: Database,
  keyEncryption: KeyEncryption,
  log: Logger,
  usageCounts: Pick<UsageCounter, 'countWebhookDelivery'>,
): DeliveryWorker {
  return createDeliveryWorker({ db, keyEncryption, log, ...config.webhooks, onAttemptSent: usageCounts.countWebhookDelivery });
}
