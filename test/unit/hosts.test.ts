import { describe, expect, it } from 'vitest';
import { createPublicUrls, isValidTenantSlug, normalizeHostname, resolveHostTarget } from '../../src/tenancy/hosts.ts';

const environments = [
  { name: 'production', domain: 'example.com' },
  { name: 'sandbox', domain: 'examplesandbox.com' },
];
const production = environments[0];
const sandbox = environments[1];

describe('resolveHostTarget', () => {
  it.each([
    ['authentication.example.com', { kind: 'authentication', environment: production }],
    ['authentication.examplesandbox.com:3000', { kind: 'authentication', environment: sandbox }],
    ['admin.examplesandbox.com', { kind: 'admin', environment: sandbox }],
    ['acme.example.com', { kind: 'tenant', environment: production, slug: 'acme' }],
    ['ACME.Example.COM', { kind: 'tenant', environment: production, slug: 'acme' }],
    ['acme.example.com.', { kind: 'tenant', environment: production, slug: 'acme' }],
    ['acme.example.com.:443', { kind: 'tenant', environment: production, slug: 'acme' }],
    ['a-1.examplesandbox.com', { kind: 'tenant', environment: sandbox, slug: 'a-1' }],
  ])('%s resolves', (host, expected) => {
    expect(resolveHostTarget(host, environments)).toEqual(expected);
  });

  it.each([
    undefined,
    '',
    'example.com',
    'evil.com',
    'acme.example.com.evil.com',
    'x.acme.example.com',
    'admin.evil.com',
    'x.admin.example.com',
    'platform.example.com',
    'www.example.com',
    'api.example.com',
    '-acme.example.com',
    'acme-.example.com',
    'ac_me.example.com',
    'acmé.example.com',
    `${'a'.repeat(64)}.example.com`,
    '127.0.0.1',
    '[::1]:3000',
    'acme..example.com',
    'acme.example.com:99999999',
    'acme.example.com@evil.com',
    'acme.example.com/evil',
  ])('%s is refused', (host) => {
    expect(resolveHostTarget(host, environments)).toBeUndefined();
  });
});

describe('tenant slugs', () => {
  it('follow the DNS label rule and exclude reserved names', () => {
    expect(isValidTenantSlug('acme')).toBe(true);
    expect(isValidTenantSlug('a')).toBe(true);
    expect(isValidTenantSlug('a'.repeat(63))).toBe(true);
    expect(isValidTenantSlug('a'.repeat(64))).toBe(false);
    for (const reserved of ['authentication', 'admin', 'www', 'api']) expect(isValidTenantSlug(reserved)).toBe(false);
  });
});

describe('normalizeHostname', () => {
  it('drops the port and a trailing dot and lower-cases', () => {
    expect(normalizeHostname('Acme.Example.com.:8443')).toBe('acme.example.com');
  });
});

describe('public URLs', () => {
  it('omit the default port of the scheme and keep any other', () => {
    const https = createPublicUrls('https', 443);
    expect(https.issuer(production as never, 'acme')).toBe('https://authentication.example.com/tenants/acme');
    expect(https.tenantOrigin(production as never, 'acme')).toBe('https://acme.example.com');
    const dev = createPublicUrls('http', 3000);
    expect(dev.issuer(sandbox as never, 'acme')).toBe('http://authentication.examplesandbox.com:3000/tenants/acme');
  });
});
