import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

const fail = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('has a working default for everything in development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      publicPort: 3000,
      publicProtocol: 'http',
      trustProxy: false,
      seedDemo: true,
      databaseUrl: undefined,
      environments: [
        { name: 'production', domain: 'connect.localhost' },
        { name: 'sandbox', domain: 'connect-sandbox.localhost' },
      ],
    });
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT: expected an integer (0..65535), got "abc"'],
    [{ PORT: '70000' }, 'PORT: expected an integer (0..65535), got "70000"'],
    [{ PUBLIC_PROTOCOL: 'ftp' }, 'PUBLIC_PROTOCOL: expected one of http, https, got "ftp"'],
    [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY: expected one of true, false, 1, 0, got "yes"'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL: expected a string matching ^postgres(ql)?://, got "mysql://x"'],
    [{ KEY_ENCRYPTION_KEY: 'short' }, 'KEY_ENCRYPTION_KEY: expected a string matching ^[A-Za-z0-9_-]{43}=?$, got "short"'],
  ])('names the variable and what it expects: %j', (env, message) => {
    expect(fail(env)).toBe(message);
  });

  it('refuses malformed or overlapping environments', () => {
    expect(fail({ ENVIRONMENTS: 'not json' })).toMatch(/^ENVIRONMENTS: expected a JSON object/);
    expect(fail({ ENVIRONMENTS: '{"prod":"bad_domain!"}' })).toMatch(/^ENVIRONMENTS: expected a JSON object of environment names/);
    expect(fail({ ENVIRONMENTS: '{"a":"example.com","b":"sandbox.example.com"}' })).toBe(
      'ENVIRONMENTS: domains must not overlap: b=sandbox.example.com and a=example.com',
    );
  });

  it('normalises environment domains (case, trailing dot)', () => {
    expect(loadConfig({ ENVIRONMENTS: '{"production":"Example.COM."}' }).environments).toEqual([
      { name: 'production', domain: 'example.com' },
    ]);
  });

  it('in production requires a key-encryption key and refuses demo data', () => {
    expect(fail({ NODE_ENV: 'production' })).toMatch(/^KEY_ENCRYPTION_KEY: required when NODE_ENV=production/);
    const kek = Buffer.alloc(32, 7).toString('base64url');
    expect(loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: kek }).seedDemo).toBe(false);
    expect(fail({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: kek, SEED_DEMO: 'true' })).toBe(
      'SEED_DEMO: demo tenants and credentials are never created when NODE_ENV=production',
    );
  });

  it('creates the bootstrap platform admin in development, in production only when asked', () => {
    const kek = Buffer.alloc(32, 7).toString('base64url');
    expect(loadConfig({}).bootstrapAdmin).toBe(true);
    expect(loadConfig({ BOOTSTRAP_ADMIN: 'false' }).bootstrapAdmin).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: kek }).bootstrapAdmin).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: kek, BOOTSTRAP_ADMIN: 'true' }).bootstrapAdmin).toBe(true);
  });

  it('takes PUBLIC_PORT for URLs when a proxy listens elsewhere', () => {
    expect(loadConfig({ PORT: '8080', PUBLIC_PORT: '443', PUBLIC_PROTOCOL: 'https' })).toMatchObject({ port: 8080, publicPort: 443 });
  });
});

describe('WORKERS', () => {
  const postgres = { DATABASE_URL: 'postgres://u@127.0.0.1/db' };
  it('is 1 by default, a number, or one per available CPU with auto', () => {
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ ...postgres, WORKERS: '3' }).workers).toBe(3);
    expect(loadConfig({ ...postgres, WORKERS: 'auto' }).workers).toBe(os.availableParallelism());
  });

  it('names the variable and what it expects', () => {
    expect(fail({ WORKERS: 'many' })).toBe('WORKERS: expected auto or an integer (1..256), got "many"');
    expect(fail({ WORKERS: '0' })).toBe('WORKERS: expected auto or an integer (1..256), got "0"');
  });

  it('refuses more than one process on the embedded database, in one line', () => {
    expect(fail({ WORKERS: '2' })).toBe(
      'WORKERS: 2 processes need a Postgres: the embedded database serves one process; set DATABASE_URL, or WORKERS=1',
    );
  });
});

describe('REDIS_*', () => {
  it('counts per instance without REDIS_URL, and in Redis with it, with bounded waits by default', () => {
    expect(loadConfig({}).redis).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://10.0.0.5:6379' }).redis).toEqual({
      url: 'redis://10.0.0.5:6379',
      timeoutMs: 250,
      keyPrefix: 'tenant-connect:',
    });
  });

  it('refuses a URL that is not Redis and an unbounded timeout, naming the variable', () => {
    expect(fail({ REDIS_URL: 'http://cache:6379' })).toBe('REDIS_URL: expected a string matching ^rediss?://, got "http://cache:6379"');
    expect(fail({ REDIS_URL: 'redis://cache', REDIS_TIMEOUT_MS: '60000' })).toBe(
      'REDIS_TIMEOUT_MS: expected an integer (10..10000), got "60000"',
    );
  });
});
