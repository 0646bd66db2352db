/**
 * The token endpoint's proof-id store (src/auth/replay-detection.ts) on the real schema, as the
 * runtime role: a claim wins once, even among concurrent claims; tenants and clients are apart;
 * an expired claim is taken over, and expired rows are deleted by a later claim.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReplayDetection } from '../../src/auth/replay-detection.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createFreshDatabase, type FreshDatabase, testDatabaseKinds } from '../helpers/databases.ts';

describe.each(testDatabaseKinds())('replay detection on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  const tenants: string[] = [];
  beforeAll(async () => {
    fresh = await createFreshDatabase(kind);
    db = await createDatabase({ databaseUrl: fresh.url });
    await migrate(db);
    for (const slug of ['one', 'two']) {
      const [row] = await db.admin.query<{ id: string }>(
        `INSERT INTO tenants (environment, slug, name) VALUES ('production', $1, $1) RETURNING id`,
        [slug],
      );
      tenants.push(row?.id ?? '');
    }
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  const inSeconds = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;
  const rows = async (tenantId: string) =>
    (
      await db.admin.scoped(tenantId, (tx) =>
        tx.query<{ n: number }>('SELECT count(*)::int AS n FROM oauth_replay_detections WHERE tenant_id = $1', [tenantId]),
      )
    )[0]?.n;

  it('lets one of many concurrent claims of an id win, per tenant and client', async () => {
    const [one, two] = tenants as [string, string];
    const store = createReplayDetection(db, { tenants: 10 });
    const jti = randomUUID();
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => store.claim(one, 'client-a', jti, inSeconds(300))));
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect(await store.claim(one, 'client-b', jti, inSeconds(300))).toBe(true);
    expect(await store.claim(two, 'client-a', jti, inSeconds(300))).toBe(true);
    // another store (another instance) on the same database sees the claims
    expect(await createReplayDetection(db, { tenants: 10 }).claim(one, 'client-a', jti, inSeconds(300))).toBe(false);
  });

  it('takes over an expired claim, and a later claim deletes the tenant’s expired rows', async () => {
    const [, two] = tenants as [string, string];
    let clock = Date.now();
    const store = createReplayDetection(db, { tenants: 10, now: () => clock });
    const before = (await rows(two)) ?? 0;
    expect(await store.claim(two, 'c', 'old-1', inSeconds(-10))).toBe(true);
    expect(await store.claim(two, 'c', 'old-2', inSeconds(-10))).toBe(true);
    expect(await store.claim(two, 'c', 'old-1', inSeconds(300))).toBe(true);
    expect(await rows(two)).toBe(before + 2);
    clock += 61_000; // the next claim for this tenant purges
    expect(await store.claim(two, 'c', 'new', inSeconds(300))).toBe(true);
    expect(await rows(two)).toBe(before + 2); // old-2 gone, new in
    expect(await store.claim(two, 'c', 'old-1', inSeconds(300))).toBe(false);
  });
});
