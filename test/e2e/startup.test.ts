/**
 * `npm start` as a newcomer meets it: the real entry point on an embedded database in a fresh data
 * directory; the banner's copy-paste commands are run in a shell with curl, as printed.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, MAIN, startServerProcess, stopServerProcess } from '../helpers/processes.ts';

const run = promisify(execFile);

function start(env: Record<string, string>) {
  return startServerProcess(env, 'curl -s -H');
}
const stop = (child: ChildProcess) => stopServerProcess(child);

// a first start creates and seeds an embedded database: seconds on a quiet machine, more on a busy one
describe('npm start', { timeout: 90_000 }, () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-start-'));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('prints URLs and demo credentials, and the printed curl gets a token and reads acme’s employees', async () => {
    const port = await freePort();
    const server = start({ PORT: String(port), DATA_DIR: dataDir });
    try {
      const banner = await server.ready;
      expect(banner).toContain(`http://authentication.connect-sandbox.localhost:${port}/tenants/<tenant>/connect/token`);
      expect(banner).toContain(`http://<tenant>.connect.localhost:${port}/api/v1/<collection>`);
      const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')) as {
        environment: string;
        tenant: string;
        client_id: string;
        api_base: string;
      }[];
      expect(credentials).toHaveLength(4);
      for (const c of credentials) expect(banner).toContain(c.client_id);
      expect(fs.statSync(path.join(dataDir, 'demo-credentials.json')).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.join(dataDir, 'key-encryption-key')).mode & 0o777).toBe(0o600);
      expect(banner).toContain(`admin API        http://admin.connect.localhost:${port}/v1`);
      expect(banner).toContain(
        `Platform admin credentials (scope platform:admin) are in ${path.join(dataDir, 'admin-credentials.json')} (mode 0600)`,
      );
      expect(fs.statSync(path.join(dataDir, 'admin-credentials.json')).mode & 0o777).toBe(0o600);

      const tryIt = banner.slice(banner.indexOf('Try it'));
      const script = tryIt.split('\n').slice(1, 4).join('\n');
      const { stdout } = await run('bash', ['-c', script]);
      const body = JSON.parse(stdout) as { data: { employee_number: string }[]; next: string };
      expect(body.data).toHaveLength(5);
      expect(body.data.every((e) => e.employee_number.startsWith('A-'))).toBe(true);
      expect(body.next).toContain(`http://acme.connect-sandbox.localhost:${port}/api/v1/employees?limit=5&cursor=`);
    } finally {
      await stop(server.child);
    }
  });

  it('restarts on the same data directory with the same demo credentials', async () => {
    const before = fs.readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8');
    const adminBefore = fs.readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8');
    const port = await freePort();
    const server = start({ PORT: String(port), DATA_DIR: dataDir });
    try {
      await server.ready;
      expect(fs.readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')).toBe(before.replaceAll(/:\d+\//g, `:${port}/`));
      // the platform admin client is reused too, not created again
      expect(fs.readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')).toBe(
        adminBefore.replaceAll(/localhost:\d+/g, `localhost:${port}`),
      );
    } finally {
      await stop(server.child);
    }
  });

  it('stops on a bad setting with one line naming the variable', async () => {
    const result = await run(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', PORT: 'eighty' } }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('configuration error: PORT: expected an integer (0..65535), got "eighty"\n');
  });
});
