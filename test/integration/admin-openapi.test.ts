/** The admin API's OpenAPI document: valid 3.1, public, and exactly the routes the router serves. */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformCredential } from '../helpers/admin.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

describe('admin API OpenAPI document', () => {
  let server: TestServer;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>>; components: { securitySchemes: Record<string, unknown> } };

  beforeAll(async () => {
    server = await startTestServer('pglite');
    const response = await server.fetch(`${platformCredential(server).admin_api}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('www-authenticate')).toBeNull();
    doc = (await response.json()) as typeof doc;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('documents exactly the operations the router serves', () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = [...new Set(server.booted.app.serveAdminApi.routeTable.map((r) => `${r.method} ${r.path}`))].sort();
    expect(documented).toEqual(served);
  });

  it('points both token security schemes at our own token endpoints, and describes DPoP', () => {
    expect(doc.components.securitySchemes).toMatchObject({
      platformAdmin: { flows: { clientCredentials: { tokenUrl: platformCredential(server).token_endpoint } } },
      tenantAdmin: {
        type: 'http',
        scheme: 'bearer',
        description: expect.stringContaining(`http://authentication.connect.localhost:${server.port}/tenants/{tenant}/connect/token`),
      },
      dpop: { type: 'http', scheme: 'DPoP' },
    });
  });
});
