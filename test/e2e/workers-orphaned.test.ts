/**
 * A worker whose primary is gone (kill -9: no SIGTERM reaches the workers) gets no more
 * connections; it must not live on as an orphan holding database connections. node:cluster ends a
 * worker whose channel to the primary closes unexpectedly, at once (no drain: its connections were
 * the primary's to hand out); this holds the fleet to it. Postgres only (WORKERS > 1 needs it):
 * skipped without TEST_DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { createFreshDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';

describe.skipIf(!process.env.TEST_DATABASE_URL)('WORKERS=2 when the primary is killed', () => {
  let database: FreshDatabase | undefined;
  let server: ChildServer | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-orphans-'));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  afterAll(async () => {
    await server?.kill();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('leaves no worker running', async () => {
    database = await createFreshDatabase('postgres');
    server = await startChildServer({
      DATABASE_URL: database.url as string,
      DATA_DIR: dataDir,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      WORKERS: '2',
      LOG_LEVEL: 'info',
      SEED_DEMO: 'false',
    });
    const output = server.output;
    await eventually(async () => expect(output()).toContain('"msg":"every worker serves"'), 60_000);
    const workers = [...output().matchAll(/"pid":(\d+),"msg":"worker serves"/g)].map((m) => Number(m[1]));
    expect(workers).toHaveLength(2);
    await server.kill(); // SIGKILL to the primary alone
    await eventually(async () => expect(workers.filter(alive)).toEqual([]), 15_000);
  }, 90_000);
});
