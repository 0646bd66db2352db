/**
 * A PgBouncer of the test's own (Debian's `pgbouncer` binary) on a free loopback port, in
 * transaction pooling mode in front of the Postgres of TEST_DATABASE_URL, from a generated ini;
 * and the runtime login of deploy/postgres/runtime-login.sql, created with that very file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './processes.ts';

const RUNTIME_LOGIN_SQL = path.resolve(import.meta.dirname, '../../deploy/postgres/runtime-login.sql');

/** The pgbouncer binary: on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
export function findPgBouncer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  return dirs.map((dir) => path.join(dir, 'pgbouncer')).find((file) => fs.existsSync(file));
}

/**
 * Why a PgBouncer test cannot run here, or undefined when it can. Under CI (CI set) a missing
 * binary is not a reason: the test runs and fails, since .ci/run installs it.
 */
export function pgbouncerSkipReason(): string | undefined {
  if (!process.env.TEST_DATABASE_URL) return 'needs TEST_DATABASE_URL (a Postgres)';
  if (!findPgBouncer() && !process.env.CI) return 'pgbouncer is not installed (apt-get install pgbouncer)';
  return undefined;
}

export interface RuntimeLogin {
  readonly name: string;
  readonly password: string;
  drop(): Promise<void>;
}

/** A fresh login made by deploy/postgres/runtime-login.sql (its psql variables substituted here). */
export async function createRuntimeLogin(adminUrl: string): Promise<RuntimeLogin> {
  const name = `tc_login_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const sql = fs
    .readFileSync(RUNTIME_LOGIN_SQL, 'utf8')
    .replaceAll(":'login_name'", pg.escapeLiteral(name))
    .replaceAll(":'login_password'", pg.escapeLiteral(password));
  const run = async (text: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await run(sql);
  return { name, password, drop: () => run(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(name)}`) };
}

export interface PgBouncer {
  readonly port: number;
  /** `databaseUrl`'s database through this PgBouncer, logging in as `login` */
  urlFor(databaseUrl: string, login: { name: string; password: string }): string;
  log(): string;
  close(): Promise<void>;
}

export async function startPgBouncer(options: {
  /** Postgres behind it (loopback) */
  readonly target: { host: string; port: number };
  /** server connections per (database, user): 1 makes every client share one */
  readonly poolSize: number;
  readonly logins: readonly { name: string; password: string }[];
}): Promise<PgBouncer> {
  const binary = findPgBouncer();
  if (!binary) throw new Error('pgbouncer is not installed: apt-get install pgbouncer');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-pgbouncer-'));
  const port = await freePort();
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
  fs.writeFileSync(path.join(dir, 'userlist.txt'), options.logins.map((l) => `${quote(l.name)} ${quote(l.password)}\n`).join(''));
  const ini = [
    '[databases]',
    // any database name: each test creates its own
    `* = host=${options.target.host} port=${options.target.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    // clients on loopback are trusted; towards Postgres PgBouncer logs in with the auth_file's password
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${options.poolSize}`,
    'reserve_pool_size = 0',
    'max_client_conn = 200',
    // PgBouncer refuses to run as root: it drops to an unprivileged user when started as root
    ...(process.getuid?.() === 0 ? ['user = nobody'] : []),
  ].join('\n');
  const iniFile = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(iniFile, `${ini}\n`);
  fs.chmodSync(dir, 0o755);
  for (const file of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, file), 0o644);

  const child: ChildProcess = spawn(binary, [iniFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // listening once a TCP connection is accepted
  for (let attempt = 0; ; attempt++) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) break;
    if (child.exitCode !== null || attempt > 100) {
      await close();
      throw new Error(`pgbouncer did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    urlFor(databaseUrl, login) {
      const url = new URL(databaseUrl);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      url.username = encodeURIComponent(login.name);
      url.password = encodeURIComponent(login.password);
      return url.toString();
    },
    log: () => output,
    close,
  };
}
