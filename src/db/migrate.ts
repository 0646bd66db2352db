/**
 * Applies migrations/*.sql in name order, each in its own transaction, once. Files are history:
 * a landed migration is never edited; a change is a new file. An advisory lock keeps two
 * instances starting together from racing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './database.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

const LOCK_KEY = 7_411_203_562; // arbitrary, constant: "tenant-connect migrations"

export async function migrate(db: Database, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^\d{14}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
  await db.admin.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  const done = new Set((await db.admin.query<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name));
  const applied: string[] = [];
  for (const file of files.filter((f) => !done.has(f))) {
    const sql = fs.readFileSync(path.join(dir, file), 'utf8');
    // pg_advisory_xact_lock is released at COMMIT/ROLLBACK; the check runs after it is held.
    await db.admin
      .exec(
        `
      BEGIN;
      SELECT pg_advisory_xact_lock(${LOCK_KEY});
      DO $do$ BEGIN
        IF EXISTS (SELECT 1 FROM schema_migrations WHERE name = '${file}') THEN
          RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'already-applied';
        END IF;
      END $do$;
      ${sql};
      INSERT INTO schema_migrations (name) VALUES ('${file}');
      COMMIT;`,
      )
      .then(
        () => applied.push(file),
        (error: unknown) => {
          if (error instanceof Error && error.message.includes('already-applied')) return;
          throw new Error(`migration ${file} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        },
      );
  }
  return applied;
}
