/**
 * `npm start` when it cannot or must not run: each mistake stops it with one line on stderr that
 * names the variable and the fix, after any progress lines, with no stack trace and a non-zero
 * exit. And one process per data directory on the embedded database, with no lock left behind by
 * a `kill -9`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/db/data-dir-lock.ts';
import { createFreshDatabase } from '../helpers/databases.ts';
import { freePort, MAIN, startServerProcess, stopServerProcess } from '../helpers/processes.ts';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the entry point to its exit (at most 60 s). */
function runToExit(env: Record<string, string>): Promise<Run> {
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    }),
  );
}

/** Exactly one line on stderr, matching `line`; no stack trace anywhere; a non-zero exit. */
function expectOneLine(run: Run, line: RegExp): void {
  expect(run.code).not.toBe(0);
  expect(run.code).not.toBeNull();
  expect(run.stderr).toMatch(/^[^\n]+\n$/);
  expect(run.stderr).toMatch(line);
  expect(`${run.stdout}${run.stderr}`).not.toMatch(/^\s+at /m);
}

/** A server process up to its banner; a first start seeds a database, which takes long on a busy machine. */
async function startUntilBanner(env: Record<string, string>) {
  const started = startServerProcess({ ...env, PORT: String(await freePort()) });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      started.ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no banner within 150 s: ${started.output()}`)), 150_000);
      }),
    ]);
  } catch (error) {
    await stopServerProcess(started.child, 'SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    child: started.child,
    output: started.output,
    kill: () => stopServerProcess(started.child, 'SIGKILL'),
    stop: () => stopServerProcess(started.child, 'SIGTERM'),
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-failures-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('npm start on a data directory another process holds', { timeout: 400_000 }, () => {
  it('a second start exits at once naming the PID; after kill -9 of the first, a new start works', async () => {
    const dataDir = path.join(tmp, 'shared');
    const first = await startUntilBanner({ DATA_DIR: dataDir });
    try {
      // the first start says what it does while it creates the database
      expect(first.output()).toContain(`opening the embedded database in ${dataDir}…\nmigrating the schema…\nseeding the demo tenants…\n`);
      expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).toBe(`${first.child.pid}\n`);
      const clientIds = () =>
        (JSON.parse(fs.readFileSync(path.join(dataDir, 'demo-credentials.json'), 'utf8')) as { client_id: string }[]).map(
          (c) => c.client_id,
        );
      const seeded = clientIds();

      const second = await runToExit({ DATA_DIR: dataDir, PORT: String(await freePort()) });
      expectOneLine(
        second,
        new RegExp(
          `^error: DATA_DIR: ${dataDir} is in use by process ${first.child.pid} \\(the embedded database serves one process\\); stop it, or set DATA_DIR to another directory\\n$`,
        ),
      );
      expect(second.stdout).toBe(''); // refused before the database was opened
      expect(second.ms).toBeLessThan(10_000); // checked before the rest of the code is loaded

      await first.kill(); // SIGKILL: the lock file stays, naming a process that is gone
      expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(true);
      const third = await startUntilBanner({ DATA_DIR: dataDir });
      try {
        expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).toBe(`${third.child.pid}\n`);
        expect(clientIds()).toEqual(seeded); // the same database, not a new one
      } finally {
        await third.stop();
      }
      // a graceful stop removes the lock (the message says how the process ended: a SIGTERM that
      // came right after the banner, before the handlers existed, once ended it unhandled)
      const ended = `exit code ${third.child.exitCode}, signal ${third.child.signalCode}; output:\n${third.output()}`;
      expect(fs.existsSync(path.join(dataDir, LOCK_FILE)), ended).toBe(false);
    } finally {
      await first.kill();
    }
  });
});

describe('npm start stops with one line', { timeout: 60_000 }, () => {
  it('on a port in use (PORT or METRICS_PORT), before the data directory is created', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const dataDir = path.join(tmp, 'never-created');
      const run = await runToExit({ DATA_DIR: dataDir, PORT: String(port) });
      expectOneLine(
        run,
        new RegExp(`^error: PORT: 127\\.0\\.0\\.1:${port} is already in use by another process; stop it or set PORT to a free port\\n$`),
      );
      expect(run.stdout).toBe('');
      expect(fs.existsSync(dataDir)).toBe(false); // nothing created, migrated or seeded

      const metrics = await runToExit({ DATA_DIR: dataDir, PORT: String(await freePort()), METRICS_PORT: String(port) });
      expectOneLine(
        metrics,
        new RegExp(
          `^error: METRICS_PORT: 127\\.0\\.0\\.1:${port} is already in use by another process; stop it or set METRICS_PORT to a free port\\n$`,
        ),
      );
      expect(fs.existsSync(dataDir)).toBe(false);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('with WORKERS > 1 on the embedded database, which serves one process', async () => {
    const dataDir = path.join(tmp, 'workers-refused');
    const run = await runToExit({ DATA_DIR: dataDir, PORT: String(await freePort()), WORKERS: '2' });
    expectOneLine(
      run,
      /^configuration error: WORKERS: 2 processes need a Postgres: the embedded database serves one process; set DATABASE_URL, or WORKERS=1\n$/,
    );
    expect(run.stdout).toBe('');
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('on a DATA_DIR that is a file, under a file, or where nobody may write (sysfs refuses even root)', async () => {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'not a directory\n');
    const cases: [string, RegExp][] = [
      [file, new RegExp(`^error: DATA_DIR: ${file} is a file, not a directory; set DATA_DIR to a writable directory`)],
      [path.join(file, 'data'), new RegExp(`^error: DATA_DIR: ${file}/data is not a directory \\(a file stands in its path\\)`)],
      // as root, chmod stops nothing; /sys is a kernel file system that refuses new directories to root too
      ['/sys/tenant-connect-test', /^error: DATA_DIR: \/sys\/tenant-connect-test is not writable by this process; set DATA_DIR/],
    ];
    for (const [dataDir, line] of cases) {
      const run = await runToExit({ DATA_DIR: dataDir, PORT: String(await freePort()) });
      expectOneLine(run, line);
      expect(run.stdout).toBe('');
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('not a directory\n');
  });
});

const postgresUrl = process.env.TEST_DATABASE_URL;

describe.skipIf(!postgresUrl)('npm start on Postgres stops with one line', { timeout: 60_000 }, () => {
  const url = new URL(postgresUrl ?? 'postgres://localhost/');
  const host = url.hostname;
  const port = url.port || '5432';

  it('when the database in DATABASE_URL does not exist, saying how to create it', async () => {
    const missing = `tc_missing_${randomBytes(4).toString('hex')}`;
    const databaseUrl = new URL(url);
    databaseUrl.pathname = `/${missing}`;
    const run = await runToExit({
      DATABASE_URL: databaseUrl.toString(),
      DATA_DIR: path.join(tmp, 'pg-missing'),
      PORT: String(await freePort()),
    });
    expectOneLine(
      run,
      new RegExp(
        `^error: DATABASE_URL: database "${missing}" does not exist on ${host}:${port}; create it with \`createdb -h ${host} -p ${port} -U ${decodeURIComponent(url.username) || 'postgres'} ${missing}\``,
      ),
    );
    expect(run.stdout).toBe(`connecting to Postgres at ${host}:${port}…\nmigrating the schema…\n`);
  });

  it('when the role in DATABASE_URL does not exist', async () => {
    const role = `tc_nobody_${randomBytes(4).toString('hex')}`;
    const databaseUrl = new URL(url);
    databaseUrl.username = role;
    const run = await runToExit({
      DATABASE_URL: databaseUrl.toString(),
      DATA_DIR: path.join(tmp, 'pg-role'),
      PORT: String(await freePort()),
    });
    expectOneLine(
      run,
      new RegExp(
        `^error: DATABASE_URL: Postgres at ${host}:${port} refused user "${role}" \\(role "${role}" does not exist\\); create the role \\(\`createuser -h ${host} -p ${port} -U postgres --createdb ${role}\`\\) or put an existing one in DATABASE_URL\\n$`,
      ),
    );
  });

  it('when Postgres does not listen at DATABASE_URL', async () => {
    const closedPort = await freePort();
    const run = await runToExit({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/x`,
      DATA_DIR: path.join(tmp, 'pg-refused'),
      PORT: String(await freePort()),
    });
    expectOneLine(
      run,
      new RegExp(`^error: DATABASE_URL: cannot reach Postgres at 127\\.0\\.0\\.1:${closedPort} \\(ECONNREFUSED\\); start it`),
    );
  });

  it('with WORKERS=2 on a port in use: the worker says so in one line, and the primary stops with it instead of restarting it', async () => {
    const database = await createFreshDatabase('postgres');
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const run = await runToExit({
        DATABASE_URL: database.url as string,
        DATA_DIR: path.join(tmp, 'workers-port'),
        PORT: String(port),
        WORKERS: '2',
      });
      expectOneLine(
        run,
        new RegExp(`^error: PORT: 127\\.0\\.0\\.1:${port} is already in use by another process; stop it or set PORT to a free port\\n$`),
      );
      expect(run.code).toBe(2);
      expect(run.stdout).toContain('"msg":"a worker refused to start (its line above says why)"');
      expect(run.stdout).not.toContain('restarting it');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
      await database.drop();
    }
  });

  it('reaches Postgres at all (a sanity check for the cases above)', async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.end();
  });
});
