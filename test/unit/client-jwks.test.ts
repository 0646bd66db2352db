/**
 * private_key_jwt key sets: what may be registered, how a jwks_uri is fetched (guarded, bounded in
 * time and size, no redirects), and when it is fetched again (the pure pacing policy).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientJwksProblem, ClientKeysUnavailableError, createRemoteJwks, fetchClientJwks } from '../../src/auth/client-jwks.ts';
import { type RemoteJwksEntry, remoteJwksAction } from '../../src/auth/remote-jwks-policy.ts';

const MINUTE = 60_000;
const question = { uri: 'https://keys.example/jwks.json', maxAgeMs: 10 * MINUTE, refreshIntervalMs: MINUTE };
const entry = (over: Partial<RemoteJwksEntry<{ kid?: string }>> = {}): RemoteJwksEntry<{ kid?: string }> => ({
  uri: question.uri,
  keys: [{ kid: 'a' }],
  fetchedAt: 0,
  attemptedAt: 0,
  error: undefined,
  ...over,
});

describe('remoteJwksAction (when a jwks_uri is fetched again)', () => {
  it('fetches what it has never fetched, or fetched from another uri', () => {
    expect(remoteJwksAction(undefined, { ...question, kid: 'a', now: 0 })).toBe('fetch');
    expect(remoteJwksAction(entry({ uri: 'https://old.example/jwks.json' }), { ...question, kid: 'a', now: 1 })).toBe('fetch');
  });
  it('uses a set younger than 10 minutes for a known kid, or no kid', () => {
    expect(remoteJwksAction(entry(), { ...question, kid: 'a', now: 10 * MINUTE - 1 })).toBe('use');
    expect(remoteJwksAction(entry(), { ...question, kid: undefined, now: 5 * MINUTE })).toBe('use');
  });
  it('fetches a set 10 minutes old, whatever kid is asked for', () => {
    expect(remoteJwksAction(entry(), { ...question, kid: 'a', now: 10 * MINUTE })).toBe('fetch');
  });
  it('refetches for an unknown kid at most once a minute', () => {
    expect(remoteJwksAction(entry({ attemptedAt: 0 }), { ...question, kid: 'b', now: MINUTE - 1 })).toBe('use');
    expect(remoteJwksAction(entry({ attemptedAt: 0 }), { ...question, kid: 'b', now: MINUTE })).toBe('fetch');
    expect(remoteJwksAction(entry({ fetchedAt: 0, attemptedAt: 2 * MINUTE }), { ...question, kid: 'b', now: 2 * MINUTE + 1 })).toBe('use');
  });
  it('retries a failing uri at most once a minute', () => {
    const failed = entry({ keys: undefined, fetchedAt: undefined, attemptedAt: 0, error: 'refused' });
    expect(remoteJwksAction(failed, { ...question, kid: 'a', now: MINUTE - 1 })).toBe('use');
    expect(remoteJwksAction(failed, { ...question, kid: 'a', now: MINUTE })).toBe('fetch');
  });
});

describe('clientJwksProblem (what a client may register)', () => {
  let publicJwk: Record<string, unknown>;
  beforeAll(async () => {
    publicJwk = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)), kid: 'k1' };
  });
  it('accepts a set of public signing keys', () => {
    expect(clientJwksProblem({ keys: [publicJwk] })).toBeUndefined();
  });
  it.each([
    ['not a set', () => ({ key: [] }), /JWK Set/],
    ['empty', () => ({ keys: [] }), /at least one/],
    ['a private member', () => ({ keys: [{ ...publicJwk, d: 'x' }] }), /private member "d"/],
    ['a symmetric key', () => ({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }), /private member "k"/],
    ['an HMAC alg', () => ({ keys: [{ ...publicJwk, alg: 'HS256' }] }), /alg "HS256"/],
    ['an encryption key', () => ({ keys: [{ ...publicJwk, use: 'enc' }] }), /use/],
    ['a repeated kid', () => ({ keys: [publicJwk, publicJwk] }), /repeats kid "k1"/],
    ['an invalid point', () => ({ keys: [{ ...publicJwk, x: 'AAAA' }] }), /not a valid public key/],
  ])('refuses %s', (_name, set, problem) => {
    expect(clientJwksProblem(set())).toMatch(problem);
  });
});

describe('fetchClientJwks (one guarded GET)', () => {
  let server: http.Server;
  let base = '';
  let requests = 0;
  let publicJwk: Record<string, unknown>;
  const options = { allowLoopback: true, timeoutMs: 300, maxBytes: 64 * 1024 };

  beforeAll(async () => {
    publicJwk = { ...(await exportJWK((await generateKeyPair('EdDSA', { extractable: true })).publicKey)), kid: 'e1' };
    server = http.createServer((req, res) => {
      requests += 1;
      if (req.url === '/ok') res.end(JSON.stringify({ keys: [publicJwk] }));
      else if (req.url === '/big') res.end(JSON.stringify({ keys: [publicJwk], padding: 'x'.repeat(70 * 1024) }));
      else if (req.url === '/redirect') res.writeHead(302, { location: '/ok' }).end();
      else if (req.url === '/slow') setTimeout(() => res.end('{}'), 2000).unref();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('answers the public keys', async () => {
    expect(await fetchClientJwks(`${base}/ok`, options)).toEqual([publicJwk]);
  });
  it.each([
    ['more than 64 KiB', '/big', /more than 65536 bytes/],
    ['a redirect', '/redirect', /answered 302/],
    ['no answer within the timeout', '/slow', /within 300 ms/],
    ['a 404', '/missing', /answered 404/],
  ])('refuses %s', async (_name, path, reason) => {
    await expect(fetchClientJwks(`${base}${path}`, options)).rejects.toThrow(reason);
  });
  it('refuses loopback where it is not allowed, before connecting', async () => {
    const before = requests;
    const refused = fetchClientJwks(`${base}/ok`, { ...options, allowLoopback: false });
    await expect(refused).rejects.toBeInstanceOf(ClientKeysUnavailableError);
    await expect(refused).rejects.toThrow(/must not point at this machine/);
    expect(requests).toBe(before);
  });
  it('shares one fetch among concurrent requests for a client, and keeps a set after a failed refresh', async () => {
    let calls = 0;
    let fail = false;
    let now = 0;
    const remote = createRemoteJwks({
      ...options,
      maxAgeMs: 10 * MINUTE,
      refreshIntervalMs: MINUTE,
      max: 10,
      now: () => now,
      fetch: async () => {
        calls += 1;
        if (fail) throw new ClientKeysUnavailableError('down');
        return [{ kid: 'a', kty: 'OKP' }];
      },
    });
    await Promise.all(Array.from({ length: 5 }, () => remote.keysFor('t', 'c', `${base}/ok`, 'a')));
    expect(calls).toBe(1);
    fail = true;
    now = 2 * MINUTE;
    // an unknown kid refetches; the fetch fails; the set (still young enough) is kept
    expect(await remote.keysFor('t', 'c', `${base}/ok`, 'b')).toEqual([{ kid: 'a', kty: 'OKP' }]);
    expect(calls).toBe(2);
    now = 11 * MINUTE;
    await expect(remote.keysFor('t', 'c', `${base}/ok`, 'a')).rejects.toThrow(/down/);
  });
});
