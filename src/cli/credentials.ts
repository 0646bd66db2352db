/**
 * Where the CLI's admin credentials come from: flags, then TENANT_CONNECT_* environment variables,
 * then the bootstrap file the server writes, `<data-dir>/admin-credentials.json` (mode 0600).
 * The file is read only when a flag or variable leaves something open.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from './errors.ts';

export const CREDENTIALS_FILE = 'admin-credentials.json';
export const PLATFORM_SCOPE = 'platform:admin';
export const TENANT_SCOPE = 'tenant:admin';

export interface EnvironmentCredentials {
  readonly client_id: string;
  readonly client_secret: string;
  readonly scope?: string;
  readonly token_endpoint: string;
  readonly admin_api: string;
}

export interface CredentialsFile {
  readonly environments: Record<string, EnvironmentCredentials>;
}

/** What one run talks to, and as whom. */
export interface AdminTarget {
  readonly environment: string;
  readonly adminUrl: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string;
  /** the tenant whose own token endpoint the token comes from (a tenant admin), if any */
  readonly tenant: string | undefined;
}

export interface TargetInputs {
  readonly environment: string;
  readonly dataDir: string;
  readonly adminUrl?: string | undefined;
  readonly tokenUrl?: string | undefined;
  readonly clientId?: string | undefined;
  readonly clientSecret?: string | undefined;
}

const FLAGS_HINT = [
  'Point --data-dir (or DATA_DIR) at the data directory of a server that has started once, or pass --admin-url, --token-url,',
  '--client-id and --client-secret (or set TENANT_CONNECT_ADMIN_URL, TENANT_CONNECT_TOKEN_URL, TENANT_CONNECT_CLIENT_ID, TENANT_CONNECT_CLIENT_SECRET).',
];

export function credentialsPath(dataDir: string): string {
  return path.resolve(dataDir, CREDENTIALS_FILE);
}

/** `…/tenants/<slug>/connect/token` names a tenant's own issuer: its admins get tenant:admin. */
export function tenantOfTokenUrl(tokenUrl: string): string | undefined {
  let pathname: string;
  try {
    pathname = new URL(tokenUrl).pathname;
  } catch {
    return undefined;
  }
  const match = /\/tenants\/([^/]+)\/connect\/token\/?$/.exec(pathname);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

export function readCredentialsFile(file: string): CredentialsFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(
        `no admin credentials: ${file} does not exist (the server writes it on its first start: npm start, with BOOTSTRAP_ADMIN=true in production)`,
        FLAGS_HINT,
      );
    }
    if (code === 'EACCES')
      throw new CliError(`cannot read ${file}: permission denied (it is mode 0600: run as the user who runs the server)`);
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as CredentialsFile).environments !== 'object') {
    throw new CliError(`${file} has no "environments" object`);
  }
  return parsed as CredentialsFile;
}

export function resolveTarget(inputs: TargetInputs, readFile: (file: string) => CredentialsFile = readCredentialsFile): AdminTarget {
  let fromFile: Partial<EnvironmentCredentials> = {};
  const complete = inputs.adminUrl && inputs.tokenUrl && inputs.clientId && inputs.clientSecret;
  if (!complete) {
    const file = credentialsPath(inputs.dataDir);
    const credentials = readFile(file);
    const entry = credentials.environments[inputs.environment];
    if (!entry) {
      const known = Object.keys(credentials.environments);
      throw new CliError(
        `${file} has no credentials for environment "${inputs.environment}" (it has: ${known.length ? known.join(', ') : 'none'}); choose one with --env`,
      );
    }
    fromFile = entry;
  }
  const pick = (given: string | undefined, key: keyof EnvironmentCredentials, flag: string): string => {
    const value = given || fromFile[key];
    if (typeof value !== 'string' || !value) {
      throw new CliError(`no ${flag.slice(2).replace('-', ' ')} for environment "${inputs.environment}": pass ${flag}`);
    }
    return value;
  };
  const tokenUrl = pick(inputs.tokenUrl, 'token_endpoint', '--token-url');
  const tenant = tenantOfTokenUrl(tokenUrl);
  return {
    environment: inputs.environment,
    adminUrl: pick(inputs.adminUrl, 'admin_api', '--admin-url').replace(/\/+$/, ''),
    tokenUrl,
    clientId: pick(inputs.clientId, 'client_id', '--client-id'),
    clientSecret: pick(inputs.clientSecret, 'client_secret', '--client-secret'),
    // a token URL given by flag decides the scope; the file's own scope goes with the file's token URL
    scope: tenant ? TENANT_SCOPE : (!inputs.tokenUrl && fromFile.scope) || PLATFORM_SCOPE,
    tenant,
  };
}
