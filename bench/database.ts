/**
 * The database a scenario runs on: a fresh Postgres database with a random name at
 * BENCH_DATABASE_URL (default: the local test server), dropped afterwards, as the tests do it. When
 * no Postgres answers (or BENCH_DATABASE_URL=pglite), the embedded PGlite (in memory, inside our
 * server process) is the fallback.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_BENCH_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface FreshDatabase {
  readonly kind: 'postgres' | 'pglite';
  /** undefined for PGlite */
  readonly url: string | undefined;
  drop(): Promise<void>;
}

function adminUrl(): string {
  return process.env.BENCH_DATABASE_URL || DEFAULT_BENCH_DATABASE_URL;
}

/** Whether the Postgres at BENCH_DATABASE_URL answers; an explicit one must (BENCH_DATABASE_URL=pglite: no Postgres). */
export async function postgresAvailable(): Promise<boolean> {
  if (process.env.BENCH_DATABASE_URL === 'pglite') return false;
  const client = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if (process.env.BENCH_DATABASE_URL)
      throw new Error(`BENCH_DATABASE_URL does not answer: ${(error as Error).message}`, { cause: error });
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function withAdmin(work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

export async function createFreshDatabase(kind: 'postgres' | 'pglite'): Promise<FreshDatabase> {
  if (kind === 'pglite') return { kind, url: undefined, drop: async () => {} };
  const name = `tc_bench_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`).then(() => {}));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    drop: () => withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => {})),
  };
}
