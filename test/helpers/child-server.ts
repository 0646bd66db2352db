/**
 * The real entry point (src/main.ts) as a child process, for tests that kill it: the same binary
 * and boot as production, its own port, the given environment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AdminCredential } from '../../src/admin/bootstrap.ts';
import type { DemoCredential } from '../../seeds/demo.ts';

const MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 60 s: ${output}`)), 60_000);
    const onData = () => {
      if (output.includes('tenant-connect is listening')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${output}`));
    });
  });
  const ended = (signal: NodeJS.Signals) => async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return { child, port, output: () => output, kill: ended('SIGKILL'), stop: ended('SIGTERM') };
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
