/**
 * The real entry point (src/main.ts) as a child process, for tests that kill it: the same binary
 * and boot as production, its own port, the given environment.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { AdminCredential } from '../../src/admin/operator/bootstrap.ts';
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { freePort, startServerProcess, stopServerProcess } from './processes.ts';

export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  output(): string;
  /** SIGKILL: no shutdown, no flushing, nothing after the last commit */
  kill(): Promise<void>;
  /** SIGTERM: the graceful shutdown */
  stop(): Promise<void>;
}

export async function startChildServer(env: Record<string, string>, options: { port?: number } = {}): Promise<ChildServer> {
  const port = options.port ?? (await freePort());
  const started = startServerProcess({ ...env, PORT: String(port) });
  started.ready.catch(() => {}); // awaited below; a late exit after a timeout is not unhandled
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      started.ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no banner within 60 s: ${started.output()}`)), 60_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  const { child } = started;
  return {
    child,
    port,
    output: started.output,
    kill: () => stopServerProcess(child, 'SIGKILL'),
    stop: () => stopServerProcess(child, 'SIGTERM'),
  };
}

export function demoCredentials(dataDir: string): DemoCredential[] {
  return JSON.parse(fs.readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')) as DemoCredential[];
}

export function platformAdminCredential(dataDir: string, environment = 'production'): AdminCredential {
  const file = JSON.parse(fs.readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')) as {
    environments: Record<string, AdminCredential>;
  };
  const credential = file.environments[environment];
  if (!credential) throw new Error(`no admin credential for ${environment}`);
  return credential;
}
