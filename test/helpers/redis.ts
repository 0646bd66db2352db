/**
 * The machine's Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379, loopback only) for the
 * shared-limit tests: whether it answers (a test
 * file skips with the reason when it does not, except under CI=true, where it fails), a random
 * key prefix per test, and removing that prefix's keys afterwards.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const parsed = new URL(TEST_REDIS_URL);
/** where the fault proxy forwards to */
export const TEST_REDIS = { host: parsed.hostname, port: Number(parsed.port || 6379) };

/** undefined when Redis answers PING within a second; otherwise why not. */
export async function redisUnavailable(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(TEST_REDIS.port, TEST_REDIS.host);
    const done = (reason: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(`no answer from Redis at ${TEST_REDIS_URL} within 1 s`), 1000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) =>
      done(data.toString().startsWith('+PONG') ? undefined : `Redis at ${TEST_REDIS_URL} answered ${data.toString().trim()}`),
    );
    socket.on('error', (error) => done(`Redis at ${TEST_REDIS_URL} is unreachable (${error.message})`));
  });
}

/**
 * Whether to skip the Redis tests: with the reason when Redis is unreachable outside CI. Under
 * CI=true an unreachable Redis throws: CI must run them (.ci/run starts Redis).
 */
export async function skipWithoutRedis(): Promise<string | undefined> {
  const reason = await redisUnavailable();
  if (reason === undefined) return undefined;
  if (process.env.CI === 'true') throw new Error(`${reason}: CI must run the shared-limit tests (.ci/run starts Redis)`);
  // the default reporter does not print why a suite was skipped
  process.stderr.write(`skipped: the shared-limit tests need Redis: ${reason} (start redis-server, or run .ci/run)\n`);
  return reason;
}

/** A fresh key prefix, so tests running at once on the shared Redis never count each other's keys. */
export const randomKeyPrefix = (): string => `tc-test-${randomBytes(6).toString('hex')}:`;

/** The keys under `prefix` (SCAN), e.g. to check that counting went to Redis. */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    client.disconnect();
  }
}

export async function deleteKeysUnder(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length === 0) return;
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    await client.del(...keys);
  } finally {
    client.disconnect();
  }
}
