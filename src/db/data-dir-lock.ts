/**
 * One process per data directory on the embedded database. PGlite has no lock of its own: two
 * processes on one directory both start, each with its own copy in memory, and overwrite each
 * other's files. The lock is a file naming the holder's PID, created atomically (written aside,
 * then hard-linked into place, so it never exists without its PID). It is stale as soon as that
 * process no longer runs, so a crash or `kill -9` leaves nothing that blocks the next start.
 *
 * Hand-written rather than proper-lockfile: that library's locks go stale by time (an mtime kept
 * fresh every few seconds), so after a crash the next start waits out the stale period, and it
 * records no PID to name in the message. A PID check is immediate and says who holds the directory.
 *
 * Known limits: a PID reused by an unrelated process after a crash reads as "in use" (the message
 * names the PID, so it can be checked, and removing the lock file clears it); and two starts
 * racing for the same stale lock in the same instant could both take it.
 */
import fs from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'tenant-connect.pid';

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  readonly code = 'ERR_DATA_DIR_IN_USE';
  readonly dataDir: string;
  /** undefined: another start took it in the same instant, before writing its PID could be read */
  readonly pid: number | undefined;
  constructor(dataDir: string, pid: number | undefined) {
    super(`${dataDir} is in use by ${pid === undefined ? 'another process' : `process ${pid}`}`);
    this.dataDir = dataDir;
    this.pid = pid;
  }
}

export interface DataDirLock {
  readonly file: string;
  /** removes the lock file if it is still ours; idempotent */
  release(): void;
}

/** process.kill(pid, 0) sends nothing: it only asks whether the process exists. EPERM: it does,
 * under another user. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // gone meanwhile: nobody holds it
  }
}

/** Creates `file` holding `content`, or fails with EEXIST: never an empty lock file in between. */
function createExclusive(file: string, content: string): void {
  const aside = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(aside, content, { mode: 0o644 });
  try {
    fs.linkSync(aside, file);
  } finally {
    fs.rmSync(aside, { force: true });
  }
}

/**
 * Takes the lock of `dataDir` (created if missing) for this process, or throws DataDirInUseError
 * naming the PID that holds it. File-system errors (a file where the directory should be, no
 * permission, a read-only file system) are thrown as they are, with their path.
 */
export function lockDataDir(dataDir: string, pid: number = process.pid): DataDirLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const lock: DataDirLock = {
    file,
    release() {
      if (readHolder(file) === pid) fs.rmSync(file, { force: true });
    },
  };
  // twice at most: once, and once more after removing a stale lock
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      createExclusive(file, `${pid}\n`);
      return lock;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    // our own PID in the file: a previous life of this PID (a container restarted as PID 1)
    if (holder !== undefined && holder !== pid && isRunning(holder)) throw new DataDirInUseError(dataDir, holder);
    fs.rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new DataDirInUseError(dataDir, readHolder(file));
}
