/**
 * Guards every resource API request passes before reaching a route: the tenant always comes from
 * the host and the token, so a tenant named in the query or body is refused, never ignored.
 */
import type { Context } from 'koa';
import { ApiError } from './problem.ts';

const TENANT_FIELD = /^(tenant|company|organi[sz]ation|org|customer)[_-]?(id|slug|name)?$/i;
const MAX_BODY_BYTES = 1024 * 1024;

function findTenantPointers(value: unknown, pointer: string, found: string[], depth = 0): void {
  if (depth > 32 || found.length >= 10 || value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    const childPointer = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (TENANT_FIELD.test(key)) found.push(childPointer);
    findTenantPointers(child, childPointer, found, depth + 1);
  }
}

function tenantInRequest(pointers: string[]): ApiError {
  return new ApiError(
    'tenant-in-request',
    'The tenant comes from the host name and the access token; do not send it in the query or body.',
    { members: { errors: pointers.map((pointer) => ({ pointer, detail: 'tenant fields are not accepted' })) } },
  );
}

export function rejectTenantInQuery(ctx: Context): void {
  const pointers = Object.keys(ctx.query)
    .filter((name) => TENANT_FIELD.test(name))
    .map((name) => `/query/${name}`);
  if (pointers.length) throw tenantInRequest(pointers);
}

/** Reads and parses a JSON body (bounded), and refuses one that names a tenant anywhere. An
 * empty body is no body. */
export async function readJsonBody(ctx: Context): Promise<unknown> {
  const body = await parseJsonBody(ctx);
  const pointers: string[] = [];
  findTenantPointers(body, '', pointers);
  if (pointers.length) throw tenantInRequest(pointers);
  return body;
}

/** Reads and parses a JSON body (bounded); an empty body is no body. */
export async function parseJsonBody(ctx: Context): Promise<unknown> {
  const length = ctx.request.length;
  if (length === 0 || (length === undefined && !ctx.get('transfer-encoding'))) return undefined;
  const isJson = ctx.is('application/json', 'application/*+json') !== false;
  if (ctx.get('content-type') && !isJson) throw new ApiError('unsupported-media-type', 'Send the request body as application/json.');
  if (length !== undefined && length > MAX_BODY_BYTES) {
    throw new ApiError('payload-too-large', `The request body must not exceed ${MAX_BODY_BYTES} bytes.`);
  }
  const chunks: Buffer[] = [];
  let received = 0;
  // destroyOnReturn: false: leaving early must not destroy the request, and with it the socket the
  // 413 is about to be written to (the edge closes the connection after the response instead)
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > MAX_BODY_BYTES) throw new ApiError('payload-too-large', `The request body must not exceed ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  if (received === 0) return undefined;
  if (!isJson) throw new ApiError('unsupported-media-type', 'Send the request body as application/json.');
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError('invalid-body', 'The request body is not valid JSON.');
  }
  return body;
}
