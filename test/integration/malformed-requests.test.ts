/**
 * A table of malformed requests: each must get a 4xx with the right error, never a 5xx, and never
 * a body that echoes a host it did not serve. Sent raw, so Host headers and methods can be anything.
 * What the token endpoint does not use (parameters it does not define) it ignores, as RFC 6749
 * §3.2 requires: those requests get their token (200).
 */
import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';

interface Case {
  readonly name: string;
  readonly host?: string | null; // null: no Host header at all
  readonly method?: string;
  readonly path: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  readonly status: number;
  /** OAuth error code (auth host) or problem type suffix (everything else) */
  readonly error?: string;
}

const AUTH = 'authentication.connect-sandbox.localhost';
const API = 'acme.connect-sandbox.localhost';
const TOKEN = '/tenants/acme/connect/token';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const basic = (value: string) => ({ authorization: `Basic ${Buffer.from(value).toString('base64')}`, ...form });
const grant = 'grant_type=client_credentials';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function cases(creds: { id: string; secret: string; token: string; api: string }): Case[] {
  const good = basic(`${creds.id}:${creds.secret}`);
  const assertion = `client_assertion=${b64url({ alg: 'ES256' })}.${b64url({ sub: creds.id })}.c2ln&client_assertion_type=${encodeURIComponent(JWT_BEARER)}`;
  const bearer = { authorization: `Bearer ${creds.token}` };
  const json = { ...bearer, 'content-type': 'application/json' };
  return [
    // Hosts
    { name: 'unknown domain', host: 'authentication.example.com', path: TOKEN, method: 'POST', status: 404, error: 'not-found' },
    { name: 'an IP address as host', host: '127.0.0.1', path: '/api/v1/employees', status: 404, error: 'not-found' },
    // HTTP/1.1 requires Host (RFC 9112 §3.2): Node's parser answers 400 before any of our code runs
    { name: 'no Host header', host: null, path: '/api/v1/employees', status: 400 },
    {
      name: 'unknown tenant host',
      host: 'nobody.connect-sandbox.localhost',
      path: '/api/v1/employees',
      headers: bearer,
      status: 404,
      error: 'not-found',
    },
    {
      name: 'reserved slug as tenant host',
      host: 'admin.connect-sandbox.localhost',
      path: '/api/v1/employees',
      status: 404,
      error: 'not-found',
    },
    { name: 'nested subdomain', host: `x.${API}`, path: '/api/v1/employees', status: 404, error: 'not-found' },
    {
      name: 'configured domain as a prefix of another',
      host: `${API}.evil.example`,
      path: '/api/v1/employees',
      status: 404,
      error: 'not-found',
    },
    { name: 'underscore in host', host: 'ac_me.connect-sandbox.localhost', path: '/api/v1/employees', status: 404, error: 'not-found' },
    { name: 'unicode host', host: 'acmé.connect-sandbox.localhost', path: '/api/v1/employees', status: 404, error: 'not-found' },
    {
      name: 'overlong host label',
      host: `${'a'.repeat(64)}.connect-sandbox.localhost`,
      path: '/api/v1/employees',
      status: 404,
      error: 'not-found',
    },
    { name: 'bare environment domain', host: 'connect-sandbox.localhost', path: '/api/v1/employees', status: 404, error: 'not-found' },
    // Token endpoint paths and methods
    {
      name: 'upper-case tenant in path',
      host: AUTH,
      method: 'POST',
      path: '/tenants/ACME/connect/token',
      headers: good,
      body: 'grant_type=client_credentials',
      status: 404,
      error: 'not-found',
    },
    {
      name: 'path traversal to another tenant',
      host: AUTH,
      method: 'POST',
      path: '/tenants/acme/../globex/connect/token',
      headers: good,
      status: 404,
      error: 'not-found',
    },
    {
      name: 'encoded slash in tenant',
      host: AUTH,
      method: 'POST',
      path: '/tenants/acme%2Fglobex/connect/token',
      headers: good,
      status: 404,
      error: 'not-found',
    },
    { name: 'GET on the token endpoint', host: AUTH, method: 'GET', path: TOKEN, status: 405, error: 'invalid_request' },
    {
      name: 'PUT on the token endpoint',
      host: AUTH,
      method: 'PUT',
      path: TOKEN,
      headers: good,
      body: 'grant_type=client_credentials',
      status: 405,
      error: 'invalid_request',
    },
    {
      name: 'DELETE on discovery',
      host: AUTH,
      method: 'DELETE',
      path: '/tenants/acme/.well-known/openid-configuration',
      status: 405,
      error: 'invalid_request',
    },
    {
      name: 'PROPFIND on the jwks',
      host: AUTH,
      method: 'PROPFIND',
      path: '/tenants/acme/.well-known/jwks.json',
      status: 405,
      error: 'invalid_request',
    },
    // Token endpoint client authentication
    {
      name: 'Basic value not base64',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: { authorization: 'Basic !!!not-base64!!!', ...form },
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'Basic without a colon',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: basic('no-colon-here'),
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'Basic with an empty secret',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: basic(`${creds.id}:`),
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'Basic for an unknown client',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: basic('tc_nobody:tcs_nothing'),
      body: 'grant_type=client_credentials',
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'Basic with a raw (not form-encoded) unicode client id',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: basic('ünïcødé-☃:secret'),
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    // client_id is VSCHAR (RFC 6749 Appendix A): printable ASCII only, however it is encoded
    {
      name: 'Basic with a form-encoded unicode client id',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: basic(`${encodeURIComponent('ünïcødé-☃')}:secret`),
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'Basic with an overlong client id',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: basic(`${'x'.repeat(4000)}:secret`),
      body: 'grant_type=client_credentials',
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'Basic and client_secret in the body',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `grant_type=client_credentials&client_secret=${creds.secret}`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'Bearer scheme at the token endpoint',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: { authorization: 'Bearer abc', ...form },
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'no client authentication',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: form,
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    // Token endpoint bodies and parameters
    {
      name: 'JSON body at the token endpoint',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: { ...good, 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'text/plain body at the token endpoint',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: { ...good, 'content-type': 'text/plain' },
      body: 'grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    { name: 'empty body', host: AUTH, method: 'POST', path: TOKEN, headers: good, body: '', status: 400, error: 'invalid_request' },
    {
      name: 'body over the size limit',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `grant_type=client_credentials&pad=${'x'.repeat(100_000)}`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'duplicate grant_type',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: 'grant_type=client_credentials&grant_type=client_credentials',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'duplicate scope',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: 'grant_type=client_credentials&scope=employees:read&scope=employees:read',
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'unicode grant_type',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `grant_type=${encodeURIComponent('client_credentíals')}`,
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      name: 'authorization_code grant',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: 'grant_type=authorization_code&code=x',
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      name: 'overlong scope',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `grant_type=client_credentials&scope=${'s'.repeat(10_000)}`,
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'resource that is not a URL',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: 'grant_type=client_credentials&resource=not%20a%20url',
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'malformed percent-encoding in the body',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: 'grant_type=client_credentials&scope=%E0%A4%A',
      status: 400,
      error: 'invalid_scope',
    },
    // Token endpoint: a DPoP header that is not a valid proof is refused (test/integration/dpop-*.test.ts: the rest)
    ...(
      [
        ['DPoP header that is not a JWT', 'garbage'],
        ['DPoP proof with alg none', `${b64url({ alg: 'none', typ: 'dpop+jwt' })}.${b64url({ htm: 'POST' })}.`],
        ['DPoP header repeated', ['a', 'b']],
        ['DPoP header of 8 KB', 'a'.repeat(8000)],
      ] as const
    ).map(([name, dpop]) => ({
      name,
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: { ...good, dpop },
      body: grant,
      status: 400,
      error: 'invalid_dpop_proof',
    })),
    {
      name: 'DPoP header over the header size limit',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: { ...good, dpop: 'a'.repeat(20_000) },
      body: grant,
      status: 431,
    },
    // Token endpoint: private_key_jwt is offered, so an assertion is an authentication attempt
    {
      name: 'client_assertion beside Basic',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&${assertion}`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'client_assertion for a client_secret_basic client',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: form,
      body: `${grant}&${assertion}`,
      status: 401,
      error: 'invalid_client',
    },
    ...(
      [
        ['client_assertion that is not a JWT', 'client_assertion=garbage'],
        ['client_assertion of 40 KB', `client_assertion=${'a'.repeat(40_000)}`],
        ['client_assertion repeated', 'client_assertion=a&client_assertion=b'],
        ['client_assertion_type alone', `client_assertion_type=${encodeURIComponent(JWT_BEARER)}`],
      ] as const
    ).map(([name, params]) => ({
      name,
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: form,
      body: `${grant}&${params}`,
      status: 400,
      error: 'invalid_request',
    })),
    {
      name: 'unknown client_assertion_type beside Basic',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&client_assertion_type=bogus`,
      status: 200,
    },
    // Token endpoint: resource (RFC 8707), audience and request (not parameters of this endpoint)
    {
      name: 'two different resources',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&resource=${encodeURIComponent(creds.api)}&resource=${encodeURIComponent('https://other.example')}`,
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'the same resource twice',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&resource=${encodeURIComponent(creds.api)}&resource=${encodeURIComponent(creds.api)}`,
      status: 200,
    },
    {
      name: 'resource with a fragment',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&resource=${encodeURIComponent(`${creds.api}#x`)}`,
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'resource of 20 KB',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&resource=${encodeURIComponent(`https://${'a'.repeat(20_000)}.example`)}`,
      status: 400,
      error: 'invalid_target',
    },
    ...(
      [
        ['audience naming another server', 'audience=https%3A%2F%2Fevil.example'],
        ['audience repeated', 'audience=a&audience=b'],
        ['a request object', `request=${b64url({ alg: 'none' })}.${b64url({ scope: 'tenant:admin' })}.`],
        ['a request object that is not a JWT', 'request=garbage'],
        ['request_uri', 'request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax'],
        ['thousands of unknown parameters', Array.from({ length: 3000 }, (_, i) => `p${i}=x`).join('&')],
      ] as const
    ).map(([name, params]) => ({ name, host: AUTH, method: 'POST', path: TOKEN, headers: good, body: `${grant}&${params}`, status: 200 })),
    // Token endpoint: repeated and oversized client authentication
    ...(
      [
        ['client_id in the body differing from Basic', 'client_id=tc_someone_else'],
        ['client_id repeated beside Basic', `client_id=${creds.id}&client_id=${creds.id}`],
        ['grant_type repeated differently', 'grant_type=password'],
      ] as const
    ).map(([name, params]) => ({
      name,
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `${grant}&${params}`,
      status: 400,
      error: 'invalid_request',
    })),
    {
      name: 'client_secret repeated',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: form,
      body: `${grant}&client_id=${creds.id}&client_secret=a&client_secret=b`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'client_secret of 40 KB',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: form,
      body: `${grant}&client_id=${creds.id}&client_secret=${'s'.repeat(40_000)}`,
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'client_id of 40 KB',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: form,
      body: `${grant}&client_id=${'x'.repeat(40_000)}&client_secret=s`,
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'grant_type of 40 KB',
      host: AUTH,
      method: 'POST',
      path: TOKEN,
      headers: good,
      body: `grant_type=${'g'.repeat(40_000)}`,
      status: 400,
      error: 'unsupported_grant_type',
    },
    // Resource API: authorization header
    {
      name: 'Basic credentials at the API',
      host: API,
      path: '/api/v1/employees',
      headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
      status: 401,
      error: 'invalid-token',
    },
    {
      name: 'Bearer without a token',
      host: API,
      path: '/api/v1/employees',
      headers: { authorization: 'Bearer' },
      status: 401,
      error: 'invalid-token',
    },
    {
      name: 'Bearer with two tokens',
      host: API,
      path: '/api/v1/employees',
      headers: { authorization: 'Bearer a b' },
      status: 401,
      error: 'invalid-token',
    },
    {
      name: 'token in the query string only',
      host: API,
      path: `/api/v1/employees?access_token=${creds.token}`,
      status: 401,
      error: 'invalid-token',
    },
    {
      name: 'header over the size limit',
      host: API,
      path: '/api/v1/employees',
      headers: { authorization: `Bearer ${'a'.repeat(20_000)}` },
      status: 431,
    },
    // Resource API: query
    { name: 'limit=0', host: API, path: '/api/v1/employees?limit=0', headers: bearer, status: 400, error: 'invalid-query' },
    { name: 'limit=201', host: API, path: '/api/v1/employees?limit=201', headers: bearer, status: 400, error: 'invalid-query' },
    { name: 'limit not a number', host: API, path: '/api/v1/employees?limit=ten', headers: bearer, status: 400, error: 'invalid-query' },
    {
      name: 'limit given twice',
      host: API,
      path: '/api/v1/employees?limit=1&limit=2',
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'garbage cursor',
      host: API,
      path: '/api/v1/employees?cursor=%F0%9F%92%A9garbage',
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'overlong cursor',
      host: API,
      path: `/api/v1/employees?cursor=${'A'.repeat(1000)}`,
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'unknown parameter on a single resource',
      host: API,
      path: '/api/v1/employees/00000000-0000-4000-8000-000000000000?expand=all',
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'tenant_id in the query',
      host: API,
      path: '/api/v1/employees?tenant_id=globex',
      headers: bearer,
      status: 400,
      error: 'tenant-in-request',
    },
    // Resource API: paths, methods and bodies
    { name: 'unknown API version', host: API, path: '/api/v2/employees', headers: bearer, status: 404, error: 'not-found' },
    { name: 'outside the API prefix', host: API, path: '/index.html', headers: bearer, status: 404, error: 'not-found' },
    { name: 'unknown collection', host: API, path: '/api/v1/payslips', headers: bearer, status: 404, error: 'not-found' },
    {
      name: 'malformed percent-encoding in the path',
      host: API,
      path: '/api/v1/employees/%E0%A4%A',
      headers: bearer,
      status: 404,
      error: 'not-found',
    },
    {
      name: 'unicode id',
      host: API,
      path: `/api/v1/employees/${encodeURIComponent('ümlaut')}`,
      headers: bearer,
      status: 404,
      error: 'not-found',
    },
    {
      name: 'DELETE without If-Match',
      host: API,
      method: 'DELETE',
      path: '/api/v1/employees/00000000-0000-4000-8000-000000000000',
      headers: bearer,
      status: 428,
      error: 'precondition-required',
    },
    {
      name: 'POST with an empty body',
      host: API,
      method: 'POST',
      path: '/api/v1/employees',
      headers: bearer,
      status: 422,
      error: 'validation-failed',
    },
    {
      name: 'POST with a body but no content type',
      host: API,
      method: 'POST',
      path: '/api/v1/employees',
      headers: bearer,
      body: '{"a":1}',
      status: 415,
      error: 'unsupported-media-type',
    },
    {
      name: 'PATCH with a text/plain body',
      host: API,
      method: 'PATCH',
      path: '/api/v1/employees',
      headers: { ...bearer, 'content-type': 'text/plain' },
      body: 'hello',
      status: 415,
      error: 'unsupported-media-type',
    },
    {
      name: 'POST with invalid JSON',
      host: API,
      method: 'POST',
      path: '/api/v1/employees',
      headers: json,
      body: '{"first_name": ',
      status: 400,
      error: 'invalid-body',
    },
    {
      name: 'POST with a body over 1 MiB',
      host: API,
      method: 'POST',
      path: '/api/v1/employees',
      headers: json,
      body: JSON.stringify({ pad: 'x'.repeat(1_100_000) }),
      status: 413,
      error: 'payload-too-large',
    },
    {
      name: 'tenant in a nested JSON body',
      host: API,
      method: 'PUT',
      path: '/api/v1/employees',
      headers: json,
      body: '{"a":[{"company_id":"x"}]}',
      status: 400,
      error: 'tenant-in-request',
    },
    {
      name: 'PUT on a collection',
      host: API,
      method: 'PUT',
      path: '/api/v1/employees',
      headers: json,
      body: '{}',
      status: 405,
      error: 'method-not-allowed',
    },
    {
      name: 'POST on a single resource',
      host: API,
      method: 'POST',
      path: '/api/v1/employees/00000000-0000-4000-8000-000000000000',
      headers: json,
      body: '{}',
      status: 405,
      error: 'method-not-allowed',
    },
    {
      name: 'POST with a JSON array',
      host: API,
      method: 'POST',
      path: '/api/v1/employees',
      headers: json,
      body: '[]',
      status: 422,
      error: 'validation-failed',
    },
    {
      name: 'PATCH without If-Match',
      host: API,
      method: 'PATCH',
      path: '/api/v1/employees/00000000-0000-4000-8000-000000000000',
      headers: json,
      body: '{"first_name":"x"}',
      status: 428,
      error: 'precondition-required',
    },
    {
      name: 'DELETE with a weak If-Match',
      host: API,
      method: 'DELETE',
      path: '/api/v1/employees/00000000-0000-4000-8000-000000000000',
      headers: { ...bearer, 'if-match': 'W/"1"' },
      status: 412,
      error: 'precondition-failed',
    },
    {
      name: 'sort by an unsortable field',
      host: API,
      path: '/api/v1/employees?sort=email',
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'updated_since that is not a timestamp',
      host: API,
      path: '/api/v1/employees?updated_since=yesterday',
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'cursor from another sort order',
      host: API,
      path: `/api/v1/employees?sort=last_name&cursor=${Buffer.from(JSON.stringify({ s: 'id', k: 'x', id: '00000000-0000-4000-8000-000000000000' })).toString('base64url')}`,
      headers: bearer,
      status: 400,
      error: 'invalid-query',
    },
    {
      name: 'batch over 1,000 items',
      host: API,
      method: 'POST',
      path: '/api/v1/clockings/batch',
      headers: json,
      body: JSON.stringify({ items: Array.from({ length: 1001 }, () => ({})) }),
      status: 422,
      error: 'validation-failed',
    },
    {
      name: 'Idempotency-Key with a space',
      host: API,
      method: 'POST',
      path: '/api/v1/org-units',
      headers: { ...json, 'idempotency-key': 'a b' },
      body: '{"code":"X","name":"Y"}',
      status: 400,
      error: 'invalid-body',
    },
    {
      name: 'Idempotency-Key over 255 characters',
      host: API,
      method: 'POST',
      path: '/api/v1/org-units',
      headers: { ...json, 'idempotency-key': 'k'.repeat(256) },
      body: '{"code":"X","name":"Y"}',
      status: 400,
      error: 'invalid-body',
    },
  ];
}

describe.each(testDatabaseKinds())('malformed requests on %s', (kind) => {
  let server: TestServer;
  let table: Case[] = [];
  beforeAll(async () => {
    server = await startTestServer(kind);
    const credential = server.credential('sandbox', 'acme');
    table = cases({
      id: credential.client_id,
      secret: credential.client_secret,
      token: await accessToken(server, credential),
      api: new URL(credential.api_base).origin,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('has at least 40 cases', () => {
    expect(table.length).toBeGreaterThanOrEqual(40);
  });

  it('answers each with the expected 4xx and error, never a 5xx', async () => {
    const failures: string[] = [];
    for (const c of table) {
      const headers: http.OutgoingHttpHeaders = { ...c.headers };
      if (c.host !== null) headers.host = `${c.host ?? API}:${server.port}`;
      const response = await server.raw({
        method: c.method ?? 'GET',
        path: c.path,
        headers,
        setHost: false,
        ...(c.body !== undefined ? { body: c.body } : {}),
      });
      let error: string | undefined;
      try {
        const parsed = JSON.parse(response.body) as { error?: string; type?: string };
        error = parsed.error ?? parsed.type?.replace('https://tenant-connect.dev/problems/', '');
      } catch {
        error = undefined;
      }
      const ok =
        response.status === c.status &&
        (c.error === undefined || error === c.error) &&
        response.status < 500 &&
        !response.body.includes('evil.example');
      if (!ok) failures.push(`${c.name}: expected ${c.status} ${c.error ?? ''}, got ${response.status} ${response.body.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
  });
});
