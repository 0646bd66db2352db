/** The pure parts of webhooks: signatures, the address guard, event patterns, their configuration. */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { refusalOf, urlProblem } from '../../src/http/address-guard.ts';
import { EVENT_TYPES, matchesAnyEventType, typeMatches } from '../../src/webhooks/events.ts';
import { generateSigningSecret, signatureHeaders } from '../../src/webhooks/signing.ts';

describe('webhook signatures', () => {
  it('verify with the standardwebhooks package, with either secret while two sign', () => {
    const current = generateSigningSecret();
    const previous = generateSigningSecret();
    const body = JSON.stringify({ id: 'evt', type: 'employee.created', data: { first_name: 'Zoë "Z"' } });
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = signatureHeaders([current, previous], 'evt_1', timestamp, body);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    for (const secret of [current, previous]) expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'employee.created' });
    expect(() => new Webhook(generateSigningSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(current).verify(`${body} `, headers)).toThrow();
  });

  it('match the specification’s example vector', () => {
    // https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
    const headers = signatureHeaders(
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('use secrets of whsec_ and 32 random bytes', () => {
    const secret = generateSigningSecret();
    expect(secret).toMatch(/^whsec_/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(generateSigningSecret()).not.toBe(secret);
  });
});

describe('the address guard', () => {
  it.each([
    ['10.0.0.1'],
    ['172.31.255.255'],
    ['192.168.0.1'],
    ['169.254.169.254'],
    ['100.64.0.1'],
    ['0.0.0.0'],
    ['224.0.0.1'],
    ['fc00::1'],
    ['fd12::1'],
    ['fe80::1'],
    ['::'],
    ['::ffff:10.0.0.1'],
    ['64:ff9b::a00:1'],
  ])('refuses %s always', (address) => {
    expect(refusalOf(address, true)).not.toBeNull();
    expect(refusalOf(address, false)).not.toBeNull();
  });

  it.each([['127.0.0.1'], ['127.8.9.10'], ['::1'], ['::ffff:127.0.0.1']])('refuses loopback %s unless allowed', (address) => {
    expect(refusalOf(address, false)).toMatch(/loopback/);
    expect(refusalOf(address, true)).toBeNull();
  });

  it.each([['93.184.216.34'], ['8.8.8.8'], ['2606:4700::1111']])('allows public %s', (address) => {
    expect(refusalOf(address, false)).toBeNull();
  });

  it('takes https anywhere public, http only for loopback in development', () => {
    expect(urlProblem('https://hooks.example.com/in', false)).toBeUndefined();
    expect(urlProblem('http://hooks.example.com/in', false)).toBe('must use https');
    expect(urlProblem('http://localhost:8080/in', false)).toMatch(/loopback is allowed only in development/);
    expect(urlProblem('http://localhost:8080/in', true)).toBeUndefined();
    expect(urlProblem('http://127.0.0.1:8080/in', true)).toBeUndefined();
    expect(urlProblem('http://[::1]:8080/in', true)).toBeUndefined();
    expect(urlProblem('http://hooks.example.com/in', true)).toMatch(/must use https/);
    expect(urlProblem('https://10.0.0.8/in', true)).toMatch(/private/);
    expect(urlProblem('ftp://hooks.example.com/in', true)).toMatch(/https/);
    expect(urlProblem('not a url', true)).toMatch(/absolute URL/);
  });
});

describe('event patterns', () => {
  it('match exact types, a resource’s wildcard and everything', () => {
    expect(typeMatches(['employee.*'], 'employee.created')).toBe(true);
    expect(typeMatches(['employee.*'], 'employees.created')).toBe(false);
    expect(typeMatches(['org_unit.deleted'], 'org_unit.deleted')).toBe(true);
    expect(typeMatches(['*'], 'tenant.suspended')).toBe(true);
    expect(typeMatches(['clocking.created'], 'clocking.updated')).toBe(false);
  });

  it('name every collection’s events by its singular, and the tenant and client events', () => {
    expect(EVENT_TYPES).toEqual(
      expect.arrayContaining([
        'employee.created',
        'org_unit.updated',
        'activity_definition.deleted',
        'clocking.created',
        'absence.deleted',
        'contract.updated',
        'tenant.suspended',
        'tenant.activated',
        'client.secret_rotated',
      ]),
    );
    expect(matchesAnyEventType('employe.*')).toBe(false);
  });
});

describe('webhook configuration', () => {
  it('allows loopback receivers outside production only, and runs the worker by default', () => {
    expect(loadConfig({}).webhooks).toEqual({
      worker: true,
      allowLoopback: true,
      leaseMs: 60_000,
      timeoutMs: 10_000,
      concurrency: 32,
      pollMs: 1_000,
    });
    const production = loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url') });
    expect(production.webhooks.allowLoopback).toBe(false);
    expect(loadConfig({ WEBHOOK_WORKER: 'false', WEBHOOK_ALLOW_LOOPBACK: 'false' }).webhooks).toMatchObject({
      worker: false,
      allowLoopback: false,
    });
  });

  it('refuses a lease no longer than the attempt timeout', () => {
    expect(() => loadConfig({ WEBHOOK_LEASE_MS: '5000', WEBHOOK_TIMEOUT_MS: '5000' })).toThrow(ConfigError);
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: '99' })).toThrow(/WEBHOOK_TIMEOUT_MS/);
  });
});
