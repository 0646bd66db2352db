/**
 * What a person finds without a token: the root of each configured host answers what the host is
 * (JSON for scripts and curl, HTML for browsers) with links that work, unknown hosts and tenants
 * stay 404 without echoing anything, and the admin API has a public reference page at /v1/docs
 * like the resource API's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformCredential } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const NOWHERE = 'Nothing is served at this address.';
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe.each(testDatabaseKinds())('host indexes and the admin reference page on %s', (kind) => {
  let server: TestServer;
  const url = (host: string, path = '/') => server.url(host, path);

  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(async () => {
    await server?.close();
  });

  const indexOf = async (host: string, accept = 'application/json') => {
    const response = await server.fetch(url(host), { headers: { accept } });
    return { status: response.status, headers: response.headers, body: await response.text() };
  };

  it('describes the authentication host: discovery and token endpoint templates, the platform issuer', async () => {
    const origin = url('authentication.connect-sandbox.localhost', '');
    const response = await indexOf('authentication.connect-sandbox.localhost');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(response.headers.get('vary')).toMatch(/\bAccept\b/i);
    expect(JSON.parse(response.body)).toEqual({
      name: 'tenant-connect authorization server',
      environment: 'sandbox',
      description: expect.stringContaining('one issuer per tenant'),
      links: {
        tenant_openid_configuration: `${origin}/tenants/{tenant}/.well-known/openid-configuration`,
        tenant_token_endpoint: `${origin}/tenants/{tenant}/connect/token`,
        platform_openid_configuration: `${origin}/platform/.well-known/openid-configuration`,
      },
    });
  });

  it('describes the admin host with its reference page, document and token endpoint', async () => {
    const response = await indexOf('admin.connect.localhost');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({
      name: 'tenant-connect admin API',
      environment: 'production',
      description: expect.any(String),
      links: {
        docs: `${platformCredential(server).admin_api}/docs`,
        openapi: `${platformCredential(server).admin_api}/openapi.json`,
        token_endpoint: platformCredential(server).token_endpoint,
      },
    });
  });

  it('describes a tenant host by the tenant’s name, with its API, reference and issuer', async () => {
    const acme = server.credential('sandbox', 'acme');
    const response = await indexOf('acme.connect-sandbox.localhost');
    expect(response.status).toBe(200);
    const body = JSON.parse(response.body) as { name: string; links: Record<string, string> };
    expect(body).toEqual({
      name: expect.stringMatching(/^Acme\b.* — tenant-connect resource API$/),
      environment: 'sandbox',
      description: expect.any(String),
      links: {
        docs: `${acme.api_base}/docs`,
        openapi: `${acme.api_base}/openapi.json`,
        api: acme.api_base,
        openid_configuration: `${acme.issuer}/.well-known/openid-configuration`,
        token_endpoint: acme.token_endpoint,
      },
    });
  });

  it('gives curl (Accept: */*, or no Accept) JSON and a browser HTML', async () => {
    for (const accept of ['*/*', '']) {
      const response = await indexOf('acme.connect.localhost', accept);
      expect(response.headers.get('content-type'), accept).toMatch(/^application\/json\b/);
    }
    const html = await indexOf('acme.connect.localhost', BROWSER_ACCEPT);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html\b/);
    expect(html.headers.get('content-security-policy')).toBe("default-src 'none'");
    const docs = `${server.credential('production', 'acme').api_base}/docs`;
    expect(html.body).toContain(`<a href="${docs}">${docs}</a>`);
    expect(html.body).toMatch(/<h1>Acme\b[^<]*— tenant-connect resource API<\/h1>/);
  });

  it('shows templates as text, not as links, in the HTML', async () => {
    const html = await indexOf('authentication.connect.localhost', BROWSER_ACCEPT);
    expect(html.body).toContain(`<code>${url('authentication.connect.localhost', '/tenants/{tenant}/connect/token')}</code>`);
    expect(html.body).not.toMatch(/href="[^"]*\{tenant\}/);
  });

  it('links only to addresses that answer 200 without a token', async () => {
    for (const host of ['authentication.connect.localhost', 'admin.connect-sandbox.localhost', 'globex.connect.localhost']) {
      const { links } = JSON.parse((await indexOf(host)).body) as { links: Record<string, string> };
      for (const [rel, link] of Object.entries(links)) {
        if (link.includes('{') || rel.endsWith('token_endpoint') || rel === 'api') continue; // templates; POST only; needs a token
        const response = await server.fetch(link);
        expect(response.status, `${host} ${rel} ${link}`).toBe(200);
        await response.arrayBuffer();
      }
    }
  });

  it('answers 405 to other methods on /, naming GET and HEAD', async () => {
    const response = await server.fetch(url('admin.connect.localhost'), { method: 'POST', body: '{}' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(await response.json()).toMatchObject({ type: 'https://tenant-connect.dev/problems/method-not-allowed', status: 405 });
  });

  it('keeps unknown hosts and tenants 404, echoing nothing of the host', async () => {
    for (const host of ['nosuchtenant.connect.localhost', 'www.connect.localhost', 'evil.example', 'connect.localhost', '127.0.0.1']) {
      for (const accept of ['application/json', BROWSER_ACCEPT]) {
        const response = await server.raw({ method: 'GET', path: '/', headers: { host: `${host}:${server.port}`, accept } });
        expect(response.status, host).toBe(404);
        expect(response.headers['content-type'], host).toMatch(/^application\/problem\+json\b/);
        // exactly the generic problem: nothing of the request in it
        expect(JSON.parse(response.body), host).toEqual({
          type: 'https://tenant-connect.dev/problems/not-found',
          title: 'Not Found',
          status: 404,
          detail: NOWHERE,
        });
      }
    }
  });

  describe('admin.<domain>/v1/docs', () => {
    const admin = () => platformCredential(server, 'sandbox').admin_api;

    it('is a public page of local assets only that loads the admin document', async () => {
      const response = await server.fetch(`${admin()}/docs`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html\b/);
      expect(response.headers.get('www-authenticate')).toBeNull();
      const html = await response.text();
      expect(html).toContain('<title>Admin API reference</title>');
      expect(html).not.toMatch(/https?:\/\//i);
      const references = [...html.matchAll(/(?:src|href)\s*=\s*"([^"]+)"/g)].map((m) => m[1] ?? '');
      expect(references.sort()).toEqual([
        '/v1/docs/favicon-32x32.png',
        '/v1/docs/init.js',
        '/v1/docs/swagger-ui-bundle.js',
        '/v1/docs/swagger-ui.css',
      ]);
      for (const reference of references) {
        const asset = await server.fetch(`${new URL(admin()).origin}${reference}`);
        expect(asset.status, reference).toBe(200);
        expect((await asset.arrayBuffer()).byteLength, reference).toBeGreaterThan(0);
      }
      const init = await (await server.fetch(`${admin()}/docs/init.js`)).text();
      expect(init).toContain("url: '/v1/openapi.json'");
    });

    it('serves nothing else under /v1/docs, and nothing but GET', async () => {
      const missing = await server.fetch(`${admin()}/docs/package.json`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ detail: NOWHERE });
      const post = await server.fetch(`${admin()}/docs`, { method: 'POST', body: '{}' });
      expect(post.status).toBe(405);
      await post.arrayBuffer();
    });

    it('leaves the rest of the admin API behind a token', async () => {
      const response = await server.fetch(`${admin()}/tenants`);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
      await response.arrayBuffer();
    });
  });
});
