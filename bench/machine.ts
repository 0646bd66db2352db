/** The machine the numbers were taken on. */
import os from 'node:os';
import pg from 'pg';
import type { MachineInfo } from './measurements.ts';

export async function describeMachine(databaseUrl: string | undefined): Promise<MachineInfo> {
  const cpus = os.cpus();
  let database = 'PGlite (embedded, in our server process)';
  if (databaseUrl) {
    const client = new pg.Client({ connectionString: databaseUrl });
    try {
      await client.connect();
      const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
      database = `PostgreSQL ${rows[0]?.server_version ?? '?'} on 127.0.0.1`;
    } catch {
      database = 'PostgreSQL (version unknown)';
    } finally {
      await client.end().catch(() => {});
    }
  }
  return {
    cores: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    database,
  };
}
