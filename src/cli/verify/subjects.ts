/**
 * The tenants `verify` acts as: each credential with a fresh access token from its own token
 * endpoint (client_credentials, client_secret_basic), and the collections its scope lets it read
 * and write. A credential that gets no token stops the run: every probe needs one.
 */
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { CliError } from '../errors.ts';
import type { HttpClient } from '../http.ts';
import type { RealToken } from './forged-tokens.ts';
import { describe, send } from './observations.ts';
import { credentialLabel, type TenantCredential } from './tenant-credentials.ts';

export interface Subject {
  readonly credential: TenantCredential;
  /** `production/acme` */
  readonly label: string;
  readonly token: RealToken;
  /** collections the token's scope may read (`employees:read` → `employees`), in scope order */
  readonly readable: readonly string[];
  readonly writable: readonly string[];
}

/** The collection verify reads when a token's scope cannot be known (an opaque token without `scope`). */
const FALLBACK_COLLECTION = 'employees';

function collectionsOf(scope: string, action: 'read' | 'write'): string[] {
  const suffix = `:${action}`;
  return scope
    .split(' ')
    .filter((s) => s.endsWith(suffix))
    .map((s) => s.slice(0, -suffix.length))
    .filter((name) => /^[a-z0-9-]+$/.test(name));
}

/** Header and claims when the token is a JWT; empty ones for an opaque token (the forgeries then carry no claims). */
export function readToken(compact: string): RealToken {
  let header: ProtectedHeaderParameters = {};
  let claims: JWTPayload = {};
  try {
    header = decodeProtectedHeader(compact);
    claims = decodeJwt(compact);
  } catch {
    // not a JWT: nothing to copy from it
  }
  return { compact, header, claims };
}

async function fetchToken(http: HttpClient, credential: TenantCredential): Promise<{ token: string; scope: string | undefined }> {
  const basic = Buffer.from(`${encodeURIComponent(credential.client_id)}:${encodeURIComponent(credential.client_secret)}`).toString(
    'base64',
  );
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (credential.scope) form.set('scope', credential.scope);
  const answer = await send(http, {
    method: 'POST',
    url: credential.token_endpoint,
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const body = answer.json as { access_token?: unknown; scope?: unknown } | undefined;
  if (answer.status !== 200 || typeof body?.access_token !== 'string') {
    throw new CliError(`${credentialLabel(credential)}: no access token from ${credential.token_endpoint} (${describe(answer)})`);
  }
  return { token: body.access_token, scope: typeof body.scope === 'string' ? body.scope : undefined };
}

export async function createSubject(http: HttpClient, credential: TenantCredential): Promise<Subject> {
  const issued = await fetchToken(http, credential);
  const token = readToken(issued.token);
  const claimed = typeof token.claims.scope === 'string' ? token.claims.scope : undefined;
  const scope = issued.scope ?? claimed ?? credential.scope;
  const readable = scope === undefined ? [FALLBACK_COLLECTION] : collectionsOf(scope, 'read');
  return {
    credential,
    label: credentialLabel(credential),
    token,
    readable,
    writable: scope === undefined ? [] : collectionsOf(scope, 'write'),
  };
}

/** A subject per credential, one after the other; every credential that gets no token is named. */
export async function createSubjects(http: HttpClient, credentials: readonly TenantCredential[]): Promise<Subject[]> {
  const subjects: Subject[] = [];
  const failures: string[] = [];
  for (const credential of credentials) {
    try {
      subjects.push(await createSubject(http, credential));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      failures.push(error.message);
    }
  }
  if (failures.length) throw new CliError('cannot verify: every tenant in the credentials file needs a token', failures);
  return subjects;
}
