/**
 * The published reference: GET /api/v1/openapi.json (public) is a valid OpenAPI 3.1 document whose
 * operations are exactly the ones the server answers, whose security scheme points at the tenant's
 * own token endpoint with the right scope per operation, and /api/v1/docs renders it from local
 * assets only.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS, type CollectionDefinition } from '../../src/catalog/collections.ts';
import { ALL_SCOPES } from '../../src/catalog/scopes.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const NOWHERE = 'Nothing is served at this address.';
/** syntactically valid, never issued */
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

interface Operation {
  readonly security?: Record<string, string[]>[];
  readonly operationId?: string;
  readonly summary?: string;
  readonly parameters?: { name: string; in: string }[];
  readonly responses?: Record<string, unknown>;
}
type PathItem = Partial<Record<(typeof METHODS)[number], Operation>> & Record<string, unknown>;
interface OpenApiDocument {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, unknown>;
    securitySchemes: Record<string, { type: string; flows: { clientCredentials: { tokenUrl: string; scopes: Record<string, string> } } }>;
  };
}

/** What the definitions say the API serves: six operations per collection and the clocking batch. */
function expectedOperations(): string[] {
  return [
    ...COLLECTIONS.flatMap((def) => [
      `GET /${def.path}`,
      `POST /${def.path}`,
      `GET /${def.path}/{id}`,
      `PUT /${def.path}/{id}`,
      `PATCH /${def.path}/{id}`,
      `DELETE /${def.path}/{id}`,
    ]),
    'POST /clockings/batch',
    'GET /events',
  ].sort();
}

function documentedOperations(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, item]) => METHODS.filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

/** A body that passes validation (references point at nothing: the id is looked up first). */
function validBody(def: CollectionDefinition): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(def.fields)) {
    if (!field.required) continue;
    const schema = field.schema as { enum?: unknown[]; format?: string; type?: string };
    if (schema.enum) body[name] = schema.enum[0];
    else if (schema.format === 'uuid') body[name] = MISSING_ID;
    else if (schema.format === 'date') body[name] = '2026-01-01';
    else if (schema.format === 'date-time') body[name] = '2026-01-01T08:00:00+01:00';
    else if (schema.type === 'number') body[name] = 1;
    else if (schema.type === 'boolean') body[name] = false;
    else body[name] = 'x';
  }
  return body;
}

describe.each(testDatabaseKinds())('OpenAPI document and reference on %s', (kind) => {
  let server: TestServer;
  let token: string;
  let doc: OpenApiDocument;
  const credential = () => server.credential('sandbox', 'acme');
  const api = () => credential().api_base;

  beforeAll(async () => {
    server = await startTestServer(kind);
    token = await accessToken(server, credential());
    const response = await server.fetch(`${api()}/openapi.json`);
    expect(response.status).toBe(200);
    doc = (await response.json()) as OpenApiDocument;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is public: served without a token, as JSON', async () => {
    const response = await server.fetch(`${api()}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(response.headers.get('www-authenticate')).toBeNull();
  });

  it('validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it('is checked by a validator that does reject a broken document (control)', async () => {
    const broken = structuredClone(doc) as unknown as Record<string, unknown>;
    delete broken.info;
    (broken.paths as Record<string, PathItem>)['/employees'] = { get: { responses: 'none' } as unknown as Operation };
    const result = await new Validator().validate(broken as Parameters<Validator['validate']>[0]);
    expect(result.valid).toBe(false);
  });

  it('documents exactly the operations the collection definitions declare', () => {
    expect(documentedOperations(doc)).toEqual(expectedOperations());
  });

  it('documents include_deleted and its 410 on every list, and the events feed with its parameters, 410 and schemas', () => {
    const parameterNames = (operation: Operation | undefined) =>
      (operation?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    const responseCodes = (operation: Operation | undefined) => Object.keys(operation?.responses ?? {});
    for (const def of COLLECTIONS) {
      const list = doc.paths[`/${def.path}`]?.get;
      expect(parameterNames(list), def.path).toContain('include_deleted');
      expect(responseCodes(list), def.path).toContain('410');
    }
    const events = doc.paths['/events']?.get;
    expect(events?.operationId).toBe('listEvents');
    expect(parameterNames(events).sort()).toEqual(['after', 'created_after', 'limit', 'type']);
    expect(responseCodes(events)).toContain('410');
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Tombstone', 'Event', 'EventList']));
  });

  it('names the tenant’s API base as its only server', () => {
    expect(doc.servers).toEqual([{ url: credential().api_base }]);
  });

  it('secures every operation with oauth2 client_credentials at the tenant’s own token endpoint, a pasted bearer token, or DPoP', () => {
    expect(Object.keys(doc.components.securitySchemes)).toEqual(['oauth2', 'bearer', 'dpop']);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.components.securitySchemes.dpop).toMatchObject({ type: 'http', scheme: 'DPoP' });
    const scheme = doc.components.securitySchemes.oauth2;
    expect(scheme?.type).toBe('oauth2');
    expect(Object.keys(scheme?.flows ?? {})).toEqual(['clientCredentials']);
    expect(scheme?.flows.clientCredentials.tokenUrl).toBe(credential().token_endpoint);
    expect(Object.keys(scheme?.flows.clientCredentials.scopes ?? {}).sort()).toEqual([...ALL_SCOPES].sort());
  });

  it('names <collection>:read on every GET and <collection>:write on every other operation', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const collection = path.split('/')[1];
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const expected = `${collection}:${method === 'get' ? 'read' : 'write'}`;
        expect(operation.security, `${method.toUpperCase()} ${path}`).toEqual([{ oauth2: [expected] }, { bearer: [] }, { dpop: [] }]);
      }
    }
  });

  it('summarizes each operation in English, with "a" or "an" as the noun wants', () => {
    const summaries = Object.values(doc.paths).flatMap((item) => METHODS.flatMap((m) => (item[m] ? [item[m].summary] : [])));
    for (const phrase of [
      'Create an employee',
      'Get an org unit',
      'Replace a contract',
      'Delete an activity definition',
      'Create a clocking',
      'Change some fields of an absence (JSON merge patch)',
      'List activity definitions',
    ]) {
      expect(summaries).toContain(phrase);
    }
    expect(summaries.filter((s) => / a [aeiou]/i.test(s ?? ''))).toEqual([]);
    expect(summaries.filter((s) => / an [^aeiou]/i.test(s ?? ''))).toEqual([]);
  });

  it('answers every documented operation: no 404 of an unknown address, no 405', async () => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    for (const operation of documentedOperations(doc)) {
      const [method = '', path = ''] = operation.split(' ');
      if (path === '/events') {
        expect((await server.fetch(`${api()}${path}`, { headers })).status, operation).toBe(200);
        continue;
      }
      const def = COLLECTIONS.find((c) => path.split('/')[1] === c.path);
      if (!def) throw new Error(`no collection for ${path}`);
      const url = `${api()}${path.replace('{id}', MISSING_ID)}`;
      const init: { method: string; headers: Record<string, string>; body?: string } = { method, headers: { ...headers } };
      if (method === 'PUT') init.body = JSON.stringify(validBody(def));
      if (method === 'PATCH') init.body = JSON.stringify(Object.fromEntries(Object.entries(validBody(def)).slice(0, 1)));
      if (method === 'POST') init.body = '{}';
      if (['PUT', 'PATCH', 'DELETE'].includes(method)) init.headers['if-match'] = '"1"';

      const response = await server.fetch(url, init);
      const body = (await response.json()) as { detail?: string };
      expect(response.status, operation).not.toBe(405);
      expect(body.detail, operation).not.toBe(NOWHERE);
      if (path.endsWith('{id}')) {
        // the resource's own 404, not the router's
        expect(response.status, operation).toBe(404);
        expect(body.detail, operation).toBe(`No ${def.singular.replace('_', ' ')} with this id.`);
      } else if (method === 'GET') {
        expect(response.status, operation).toBe(200);
      } else {
        expect(response.status, operation).toBe(422); // the empty body is refused by the route itself
        expect(body).toMatchObject({ type: 'https://tenant-connect.dev/problems/validation-failed' });
      }
    }
  });

  /** Every (undocumented method, documented path) pair of the collection paths, with the documented methods. */
  const undocumentedMethods = () =>
    Object.entries(doc.paths)
      // other methods on /clockings/batch are /clockings/{id} with the id "batch": the clocking's 404
      .filter(([path]) => path !== '/clockings/batch')
      .flatMap(([path, item]) => {
        const documented = METHODS.filter((m) => item[m] !== undefined).map((m) => m.toUpperCase());
        return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
          .filter((m) => !documented.includes(m))
          .map((method) => ({ method, path, documented, url: `${api()}${path.replace('{id}', MISSING_ID)}` }));
      });
  const send = (method: string, url: string) =>
    server.fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'if-match': '"1"' },
      body: method === 'GET' ? undefined : '{}',
    });

  it('answers 405 method-not-allowed to every undocumented method on a documented path', async () => {
    const pairs = undocumentedMethods();
    expect(pairs).toHaveLength(COLLECTIONS.length * 4 + 4); // PUT, PATCH, DELETE on /x; POST on /x/{id}; all but GET on /events
    for (const { method, path, url } of pairs) {
      const response = await send(method, url);
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(await response.json()).toMatchObject({ type: 'https://tenant-connect.dev/problems/method-not-allowed', status: 405 });
    }
  });

  // BUG: RFC 9110 §15.5.6 — a 405 MUST carry Allow. allowedMethods({ throw: true }) in
  // src/api/resource-api.ts throws the custom ApiError before @koa/router sets Allow, so the
  // header is missing (the comment there says "405 (with Allow)").
  it('names exactly the documented methods in the Allow header of those 405s', async () => {
    for (const { method, path, url, documented } of undocumentedMethods()) {
      const response = await send(method, url);
      await response.arrayBuffer();
      const allow = (response.headers.get('allow') ?? '')
        .split(',')
        .map((m) => m.trim())
        .filter((m) => m !== '' && m !== 'HEAD');
      expect(allow.sort(), `${method} ${path}`).toEqual([...documented].sort());
    }
  });

  it('serves nothing under /api/v1 beyond the documented paths (and the reference)', async () => {
    for (const path of ['/', '/employee', '/employees/x/y', `/clockings/batch/${MISSING_ID}`, '/openapi.yaml', '/org_units']) {
      const response = await server.fetch(`${api()}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status, path).toBe(404);
      expect(((await response.json()) as { detail: string }).detail, path).toBe(NOWHERE);
    }
  });

  describe('/api/v1/docs', () => {
    let html: string;
    beforeAll(async () => {
      const response = await server.fetch(`${api()}/docs`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html\b/);
      html = await response.text();
    });

    it('is public HTML that references no external URL', () => {
      expect(html).toMatch(/<html/i);
      expect(html).not.toMatch(/https?:\/\//i);
      expect(html).not.toMatch(/(src|href)\s*=\s*["']\/\//i); // no protocol-relative CDN either
    });

    it('references the local Swagger UI assets', () => {
      const references = [...html.matchAll(/(?:src|href)\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
      for (const asset of ['/api/v1/docs/swagger-ui.css', '/api/v1/docs/swagger-ui-bundle.js', '/api/v1/docs/init.js']) {
        expect(references).toContain(asset);
      }
      expect(references.every((r) => r?.startsWith('/api/v1/docs/'))).toBe(true);
    });

    it.each([
      ['swagger-ui.css', /^text\/css\b/],
      ['swagger-ui-bundle.js', /^(application|text)\/javascript\b/],
      ['init.js', /^(application|text)\/javascript\b/],
    ])('serves %s without a token, with its content type', async (asset, type) => {
      const response = await server.fetch(`${api()}/docs/${asset}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(type);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    });

    it('serves every asset the page references, and init.js loads the local document', async () => {
      const references = [...html.matchAll(/(?:src|href)\s*=\s*"([^"]+)"/g)].map((m) => m[1] ?? '');
      for (const reference of references) {
        const response = await server.fetch(`${new URL(api()).origin}${reference}`);
        expect(response.status, reference).toBe(200);
        await response.arrayBuffer();
      }
      const init = await (await server.fetch(`${api()}/docs/init.js`)).text();
      expect(init).toContain("'/api/v1/openapi.json'");
      expect(init).not.toMatch(/https?:\/\//i);
    });
  });
});
