/**
 * The real entry point (src/main.ts) with WORKERS=n as a child of this bench child, on the
 * database the scenario provisioned: what `npm start` runs in production, a supervising primary
 * and n server processes on one port. Its CPU is read over the process tree (process-use.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childOptions, progress, serveChild } from '../child.ts';

export interface ClusterOptions {
  readonly databaseUrl: string;
  readonly keyEncryptionKey: string;
  readonly workers: number;
  readonly port: number;
}

export interface ClusterInfo {
  readonly port: number;
  /** src/main.ts's process: the server with WORKERS=1, the supervising primary with more */
  readonly mainPid: number;
}

const MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');

serveChild<ClusterInfo>(async () => {
  const options = childOptions<ClusterOptions>();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-bench-cluster-'));
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: options.databaseUrl,
      KEY_ENCRYPTION_KEY: options.keyEncryptionKey,
      WORKERS: String(options.workers),
      PORT: String(options.port),
      DATA_DIR: dataDir,
      SEED_DEMO: 'false',
      BOOTSTRAP_ADMIN: 'false',
      LOG_LEVEL: 'info', // the primary's "every worker serves"
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('tenant-connect is listening')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`WORKERS=${options.workers} exited with ${code}: ${output}`)));
  });
  // the banner is the first worker's; the others start after it
  for (let i = 0; i < 600 && options.workers > 1; i++) {
    if (/every worker serves/.test(output)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  progress(`WORKERS=${options.workers} serving on port ${options.port}`);
  return {
    info: { port: options.port, mainPid: child.pid as number },
    async close() {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
