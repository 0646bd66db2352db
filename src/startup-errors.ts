/**
 * What stops a start, as one line that names the variable and the fix: the operator's mistakes
 * (a port taken, a data directory that cannot hold the database, a database or role that does
 * not exist) are configuration errors, not stack traces. Anything not recognised here is a bug
 * and keeps its stack.
 */
import path from 'node:path';
import type { Config } from './config/config.ts';
import { DataDirInUseError } from './db/data-dir-lock.ts';

interface ErrorLike {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly path?: unknown;
  readonly cause?: unknown;
}

/** The error and its causes (a failed migration wraps the database's error). */
function* chain(error: unknown): Generator<ErrorLike> {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth += 1) {
    yield current as ErrorLike;
    current = (current as ErrorLike).cause;
  }
}

function describeUrl(raw: string): { host: string; port: string; user: string; database: string } {
  const url = new URL(raw);
  return {
    host: url.hostname || 'localhost',
    port: url.port || '5432',
    user: decodeURIComponent(url.username) || process.env.USER || 'postgres',
    database: decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username) || 'postgres',
  };
}

/** DATABASE_APP_URL when the name in Postgres' message is the app URL's (and not the owner's). */
function urlVariable(config: Config, message: string, pick: 'user' | 'database'): 'DATABASE_URL' | 'DATABASE_APP_URL' {
  if (!config.databaseAppUrl || !config.databaseUrl) return 'DATABASE_URL';
  const name = (raw: string) => describeUrl(raw)[pick];
  const app = name(config.databaseAppUrl);
  return message.includes(`"${app}"`) && !message.includes(`"${name(config.databaseUrl)}"`) ? 'DATABASE_APP_URL' : 'DATABASE_URL';
}

function describeDatabaseError(config: Config, code: string, message: string): string | undefined {
  if (!config.databaseUrl) return undefined;
  if (code === '3D000') {
    const variable = urlVariable(config, message, 'database');
    const { host, port, user, database } = describeUrl(
      variable === 'DATABASE_APP_URL' ? (config.databaseAppUrl as string) : config.databaseUrl,
    );
    return `${variable}: database "${database}" does not exist on ${host}:${port}; create it with \`createdb -h ${host} -p ${port} -U ${user} ${database}\` or name an existing one in ${variable}`;
  }
  if (code === '28000' || code === '28P01') {
    const variable = urlVariable(config, message, 'user');
    const { host, port, user } = describeUrl(variable === 'DATABASE_APP_URL' ? (config.databaseAppUrl as string) : config.databaseUrl);
    // 28000 is also pg_hba.conf refusing the connection: Postgres' own one-line message says which
    const fix =
      code === '28P01'
        ? `check the user name and password in ${variable}`
        : `create the role (\`createuser -h ${host} -p ${port} -U postgres --createdb ${user}\`) or put an existing one in ${variable}`;
    return `${variable}: Postgres at ${host}:${port} refused user "${user}" (${message}); ${fix}`;
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    const { host, port } = describeUrl(config.databaseUrl);
    return `DATABASE_URL: cannot reach Postgres at ${host}:${port} (${code}); start it, or correct the host and port in DATABASE_URL`;
  }
  return undefined;
}

const FILE_SYSTEM_REASONS: Record<string, string> = {
  EEXIST: 'is a file, not a directory',
  ENOTDIR: 'is not a directory (a file stands in its path)',
  EACCES: 'is not writable by this process',
  EPERM: 'is not writable by this process',
  EROFS: 'is on a read-only file system',
  ENOSPC: 'is on a file system with no space left',
  EDQUOT: 'is on a file system whose quota is used up',
};

function describeDataDirError(config: Config, code: string, errorPath: unknown): string | undefined {
  const reason = FILE_SYSTEM_REASONS[code];
  if (!reason || typeof errorPath !== 'string') return undefined;
  const resolved = path.resolve(errorPath);
  // the directory itself, a path inside it, or a parent the directory was to be created in
  const related =
    resolved === config.dataDir ||
    resolved.startsWith(`${config.dataDir}${path.sep}`) ||
    config.dataDir.startsWith(`${resolved}${path.sep}`);
  if (!related) return undefined;
  const subject = resolved === config.dataDir ? config.dataDir : `${config.dataDir} (at ${resolved})`;
  return `DATA_DIR: ${subject} ${reason}; set DATA_DIR to a writable directory on a local file system`;
}

/** One line for an error that stops a start, or undefined when it is not the operator's to fix. */
export function describeStartupError(error: unknown, config: Config): string | undefined {
  if (error instanceof DataDirInUseError) {
    const holder = error.pid === undefined ? 'another process' : `process ${error.pid}`;
    return `DATA_DIR: ${error.dataDir} is in use by ${holder} (the embedded database serves one process); stop it, or set DATA_DIR to another directory`;
  }
  for (const link of chain(error)) {
    const code = typeof link.code === 'string' ? link.code : undefined;
    if (!code) continue;
    const message = typeof link.message === 'string' ? (link.message.split('\n')[0] ?? '') : '';
    const line = describeDatabaseError(config, code, message) ?? describeDataDirError(config, code, link.path);
    if (line) return line;
  }
  return undefined;
}

/** The server's own port or address cannot be taken: before anything else is done. */
export function describeListenError(error: unknown, variable: 'PORT' | 'METRICS_PORT', address: string, port: number): string | undefined {
  const code = (error as ErrorLike).code;
  if (code === 'EADDRINUSE')
    return `${variable}: ${address}:${port} is already in use by another process; stop it or set ${variable} to a free port`;
  if (code === 'EACCES')
    return `${variable}: this process may not listen on ${address}:${port} (ports below 1024 need privileges); set ${variable} to 1024 or above`;
  if (code === 'EADDRNOTAVAIL')
    return `BIND_ADDRESS: ${address} is not an address of this machine; set BIND_ADDRESS to one (127.0.0.1, or 0.0.0.0 for all)`;
  return undefined;
}
