/**
 * Rotating the key-encryption key on a real database: every stored signing key (v1 values written
 * before KEKs were named included) moves to the new KEK, a second run changes nothing, an instance
 * started with the new KEK (and the old one as previous while the move is pending) issues tokens,
 * and a key under a KEK nobody configured stops the run, and boot, with a message naming it.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkKeyEncryptionKeys,
  createKeyEncryption,
  keyEncryptionKeyId,
  loadKeyEncryptionKey,
  reencryptSigningKeys,
  UnknownKeyEncryptionKeyError,
  type KeyEncryption,
} from '../../src/auth/key-encryption.ts';
import { ConfigError } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createApp } from '../../src/server.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { encryptV1 } from '../helpers/legacy-encryption.ts';
import { claimsOf } from '../helpers/tokens.ts';
import { accessToken, loopbackFetch, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('key-encryption key rotation on %s', (kind) => {
  let server: TestServer;
  let oldKek: Buffer;
  const newKek = randomBytes(32);
  beforeAll(async () => {
    server = await startTestServer(kind, { env: { KEY_ROTATION_CHECK_MS: '3600000' } });
    oldKek = loadKeyEncryptionKey(undefined, server.config.dataDir).key;
  });
  afterAll(async () => {
    await server?.close();
  });

  const db = () => server.booted.db;
  const tenantId = async (environment: string, slug: string) =>
    (await db().admin.query<{ id: string }>('SELECT id FROM tenants WHERE environment = $1 AND slug = $2', [environment, slug]))[0]
      ?.id as string;
  async function storedKeys(): Promise<{ tenant: string; kid: string; value: string }[]> {
    const tenants = await db().admin.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
    const all = [];
    for (const { id } of tenants) {
      const rows = await db().admin.scoped(id, (tx) =>
        tx.query<{ kid: string; private_jwk_encrypted: string }>(
          'SELECT kid, private_jwk_encrypted FROM signing_keys WHERE tenant_id = $1 ORDER BY kid',
          [id],
        ),
      );
      all.push(...rows.map((r) => ({ tenant: id, kid: r.kid, value: r.private_jwk_encrypted })));
    }
    return all;
  }
  const setStored = (tenant: string, kid: string, value: string) =>
    db().admin.scoped(tenant, (tx) =>
      tx.query('UPDATE signing_keys SET private_jwk_encrypted = $3 WHERE tenant_id = $1 AND kid = $2', [tenant, kid, value]),
    );

  /** A second app on the same database with other KEKs: what a restarted instance would be. */
  async function withInstance<T>(keyEncryption: KeyEncryption, work: (fetchVia: typeof fetch) => Promise<T>): Promise<T> {
    const app = createApp({ config: server.config, db: db(), log: createLogger('silent'), keyEncryption });
    const httpServer = http.createServer(app.app.callback());
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const { port } = httpServer.address() as AddressInfo;
    const fetchVia = ((url: string, init?: RequestInit) => {
      const target = new URL(url);
      target.port = String(port);
      return loopbackFetch(target.toString(), init); // same host names, this instance's port
    }) as typeof fetch;
    try {
      return await work(fetchVia);
    } finally {
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    }
  }

  async function issuesTokens(fetchVia: typeof fetch): Promise<void> {
    for (const credential of server.credentials) {
      const response = await fetchVia(credential.token_endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${credential.client_id}:${credential.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
      });
      expect(response.status, `${credential.environment}/${credential.tenant}`).toBe(200);
      const token = ((await response.json()) as { access_token: string }).access_token;
      const api = await fetchVia(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${token}` } });
      expect(api.status).toBe(200);
    }
  }

  it('a key under a KEK nobody configured stops re-encryption and boot, naming the key and what to set', async () => {
    const id = await tenantId('sandbox', 'globex');
    const [target] = (await storedKeys()).filter((k) => k.tenant === id);
    if (!target) throw new Error('no key');
    const unknownKek = randomBytes(32);
    const plaintext = createKeyEncryption(oldKek).decrypt(target.value);
    await setStored(id, target.kid, createKeyEncryption(unknownKek).encrypt(plaintext));
    try {
      const error = await reencryptSigningKeys(db(), createKeyEncryption(newKek, [oldKek])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownKeyEncryptionKeyError);
      expect((error as Error).message).toBe(
        `signing key ${target.kid} of tenant ${id} cannot be decrypted by any configured key-encryption key ` +
          `(it names KEK ${keyEncryptionKeyId(unknownKek)}): add the KEK it was encrypted under to KEY_ENCRYPTION_KEY_PREVIOUS and run again`,
      );
    } finally {
      await setStored(id, target.kid, target.value);
    }
    // tenants before it in the run were moved (one transaction each), the failing one was not:
    // move everything back so the next test starts from the old KEK
    const partial = await storedKeys();
    expect(partial.filter((k) => k.tenant === id).every((k) => k.value.startsWith(`v2.${keyEncryptionKeyId(oldKek)}.`))).toBe(true);
    await reencryptSigningKeys(db(), createKeyEncryption(oldKek, [newKek]));
    // boot's check: a wrong KEK without the right one as previous is named before anything serves
    expect(await checkKeyEncryptionKeys(db(), createKeyEncryption(newKek, [oldKek]))).toBeUndefined();
    expect(await checkKeyEncryptionKeys(db(), createKeyEncryption(newKek))).toMatch(
      /^the stored signing key \S+ cannot be decrypted with KEY_ENCRYPTION_KEY \(KEK \S{8}\) or any key in KEY_ENCRYPTION_KEY_PREVIOUS/,
    );
    if (kind === 'postgres') {
      const refused = await startTestServer(kind, {
        sharedDatabase: server,
        env: { KEY_ENCRYPTION_KEY: newKek.toString('base64url'), KEY_ROTATION_CHECK_MS: '3600000' },
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).variable).toBe('KEY_ENCRYPTION_KEY');
    }
  });

  it('re-encrypts every key (v1 ones included) under the new KEK, idempotently; instances with the new KEK issue tokens', async () => {
    // one key as the first version stored it: v1, no KEK named; the running instance still signs with it
    const acme = await tenantId('production', 'acme');
    const [legacy] = (await storedKeys()).filter((k) => k.tenant === acme);
    if (!legacy) throw new Error('no key');
    await setStored(acme, legacy.kid, encryptV1(oldKek, createKeyEncryption(oldKek).decrypt(legacy.value)));
    await eventually(async () => expect((await requestToken(server, server.credential('production', 'acme'))).status).toBe(200));

    const before = await storedKeys();
    expect(before.filter((k) => k.value.startsWith('v1.'))).toHaveLength(1);
    expect(before.filter((k) => k.value.startsWith(`v2.${keyEncryptionKeyId(oldKek)}.`))).toHaveLength(before.length - 1);
    const tenants = new Set(before.map((k) => k.tenant)).size;

    // restarted with the new KEK before the move: the old one, as previous, still decrypts
    await withInstance(createKeyEncryption(newKek, [oldKek]), issuesTokens);

    const rotated = createKeyEncryption(newKek, [oldKek]);
    const progress: string[] = [];
    expect(await reencryptSigningKeys(db(), rotated, (p) => progress.push(p.tenantId))).toEqual({
      tenants,
      reencrypted: before.length,
      alreadyCurrent: 0,
    });
    expect(progress).toHaveLength(tenants);
    const after = await storedKeys();
    expect(after.map((k) => k.kid)).toEqual(before.map((k) => k.kid));
    for (const key of after) expect(key.value.startsWith(`v2.${keyEncryptionKeyId(newKek)}.`)).toBe(true);
    for (const [i, key] of after.entries()) expect(rotated.decrypt(key.value)).toBe(rotated.decrypt(before[i]?.value ?? ''));

    expect(await reencryptSigningKeys(db(), rotated)).toEqual({ tenants, reencrypted: 0, alreadyCurrent: before.length });
    expect(await storedKeys()).toEqual(after);

    // after the move the old KEK is no longer needed
    await withInstance(createKeyEncryption(newKek), issuesTokens);
    if (kind === 'postgres') {
      const restarted = await startTestServer(kind, {
        sharedDatabase: server,
        env: {
          KEY_ENCRYPTION_KEY: newKek.toString('base64url'),
          KEY_ENCRYPTION_KEY_PREVIOUS: oldKek.toString('base64url'),
          KEY_ROTATION_CHECK_MS: '3600000',
        },
      });
      try {
        for (const credential of restarted.credentials)
          expect(claimsOf(await accessToken(restarted, credential)).iss).toBe(credential.issuer);
      } finally {
        await restarted.close();
      }
    }
  });
});
