/**
 * The tenants `verify` probes as: a JSON array in the shape the demo seed writes to
 * `data/demo-credentials.json`, one entry per tenant and environment, at least two of them.
 */
import fs from 'node:fs';
import { CliError } from '../errors.ts';

export interface TenantCredential {
  readonly environment: string;
  readonly tenant: string;
  readonly client_id: string;
  readonly client_secret: string;
  /** the scope to ask for; without it the token carries every scope the client is allowed */
  readonly scope?: string;
  readonly issuer: string;
  readonly token_endpoint: string;
  readonly api_base: string;
}

const REQUIRED = ['environment', 'tenant', 'client_id', 'client_secret', 'issuer', 'token_endpoint', 'api_base'] as const;
const URL_FIELDS = ['issuer', 'token_endpoint', 'api_base'] as const;

export const SHAPE_HINT = [
  'Expected a JSON array like data/demo-credentials.json:',
  '[{"environment":"production","tenant":"acme","client_id":"…","client_secret":"…","issuer":"…","token_endpoint":"…","api_base":"…"}, …]',
];

export function credentialLabel(credential: TenantCredential): string {
  return `${credential.environment}/${credential.tenant}`;
}

function checkEntry(entry: unknown, index: number, file: string): TenantCredential {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new CliError(`${file}: entry ${index} is not an object`, SHAPE_HINT);
  }
  const record = entry as Record<string, unknown>;
  for (const field of REQUIRED) {
    if (typeof record[field] !== 'string' || record[field] === '') {
      throw new CliError(`${file}: entry ${index} has no "${field}"`, SHAPE_HINT);
    }
  }
  if (record.scope !== undefined && typeof record.scope !== 'string')
    throw new CliError(`${file}: entry ${index}: "scope" must be a string`);
  for (const field of URL_FIELDS) {
    let url: URL;
    try {
      url = new URL(record[field] as string);
    } catch {
      throw new CliError(`${file}: entry ${index}: "${field}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`${file}: entry ${index}: "${field}" must be http(s)`);
  }
  return record as unknown as TenantCredential;
}

/** The entries of a credentials file, checked; fewer than two distinct tenants is an error. */
export function parseTenantCredentials(text: string, file: string): TenantCredential[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not valid JSON`, SHAPE_HINT);
  }
  if (!Array.isArray(parsed)) throw new CliError(`${file} is not a JSON array`, SHAPE_HINT);
  const credentials = parsed.map((entry, i) => checkEntry(entry, i, file));
  const labels = credentials.map(credentialLabel);
  const duplicate = labels.find((label, i) => labels.indexOf(label) !== i);
  if (duplicate) throw new CliError(`${file}: ${duplicate} appears twice`);
  if (credentials.length < 2) {
    throw new CliError(`${file} holds ${credentials.length} tenant credential(s): isolation needs at least two tenants to probe across`);
  }
  return credentials;
}

export function readTenantCredentials(file: string): TenantCredential[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`${file} does not exist`, SHAPE_HINT);
    throw new CliError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseTenantCredentials(text, file);
}
