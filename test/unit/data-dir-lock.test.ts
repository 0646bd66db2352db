/**
 * The data directory's lock: one holder at a time, named by PID; a lock whose process is gone is
 * taken over at once; release removes only our own lock.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, LOCK_FILE, lockDataDir } from '../../src/db/data-dir-lock.ts';
import { describeStartupError } from '../../src/startup-errors.ts';
import { loadConfig } from '../../src/config/config.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-lock-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The PID of a process that has exited (and, for the moment, not been reused). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid as number;
}

describe('lockDataDir', () => {
  it('creates the directory and a lock file with our PID; a live holder refuses the next one, naming its PID', () => {
    const dataDir = path.join(tmp, 'live', 'data');
    const lock = lockDataDir(dataDir);
    expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    // another process asks: our PID is alive
    expect(() => lockDataDir(dataDir, process.ppid)).toThrow(new DataDirInUseError(dataDir, process.pid));
    expect(fs.readdirSync(dataDir)).toEqual([LOCK_FILE]); // nothing left aside
    lock.release();
    expect(fs.existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('takes over a lock whose process is gone (kill -9) or that holds no PID, and one naming our own PID', () => {
    const dataDir = path.join(tmp, 'stale');
    fs.mkdirSync(dataDir);
    for (const content of [`${deadPid()}\n`, '', 'garbage', `${process.pid}\n`]) {
      fs.writeFileSync(path.join(dataDir, LOCK_FILE), content);
      const lock = lockDataDir(dataDir);
      expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
      lock.release();
    }
  });

  it('release leaves a lock that another process holds by now', () => {
    const dataDir = path.join(tmp, 'taken-over');
    const lock = lockDataDir(dataDir);
    fs.writeFileSync(path.join(dataDir, LOCK_FILE), `${process.ppid}\n`);
    lock.release();
    expect(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
  });
});

describe('describeStartupError', () => {
  const postgres = loadConfig({
    DATABASE_URL: 'postgres://owner:pw@db.internal:6432/tc',
    DATABASE_APP_URL: 'postgres://tenant_connect_app:pw@db.internal:6432/tc',
  });
  const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('names the URL whose user Postgres refused, and the fix for a wrong password', () => {
    expect(describeStartupError(pgError('28P01', 'password authentication failed for user "tenant_connect_app"'), postgres)).toBe(
      'DATABASE_APP_URL: Postgres at db.internal:6432 refused user "tenant_connect_app" (password authentication failed for user "tenant_connect_app"); check the user name and password in DATABASE_APP_URL',
    );
    expect(describeStartupError(pgError('28P01', 'password authentication failed for user "owner"'), postgres)).toMatch(
      /^DATABASE_URL: Postgres at db\.internal:6432 refused user "owner" .*; check the user name and password in DATABASE_URL$/,
    );
  });

  it('finds the database error behind a failed migration', () => {
    const wrapped = new Error('migration 2024_x.sql failed', { cause: pgError('3D000', 'database "tc" does not exist') });
    expect(describeStartupError(wrapped, postgres)).toBe(
      'DATABASE_URL: database "tc" does not exist on db.internal:6432; create it with `createdb -h db.internal -p 6432 -U owner tc` or name an existing one in DATABASE_URL',
    );
  });

  it('names DATA_DIR for a file-system error in it, and leaves other errors (bugs) alone', () => {
    const embedded = loadConfig({ DATA_DIR: '/srv/tc' });
    const full = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC', path: '/srv/tc/pglite/base/1' });
    expect(describeStartupError(full, embedded)).toBe(
      'DATA_DIR: /srv/tc (at /srv/tc/pglite/base/1) is on a file system with no space left; set DATA_DIR to a writable directory on a local file system',
    );
    const elsewhere = Object.assign(new Error('EACCES'), { code: 'EACCES', path: '/etc/other' });
    expect(describeStartupError(elsewhere, embedded)).toBeUndefined();
    expect(describeStartupError(new TypeError('a bug'), embedded)).toBeUndefined();
    expect(describeStartupError(pgError('3D000', 'database "x" does not exist'), embedded)).toBeUndefined(); // no DATABASE_URL
  });
});
