/**
 * Where rate limits, failed-authentication throttles and token quotas are counted. With REDIS_URL,
 * in Redis, so every instance of the fleet sees the same counts (rate-limiter-flexible's
 * RateLimiterRedis). Each Redis counter has an in-memory insurance limiter that counts while Redis
 * cannot answer: a request is then counted by this instance alone, never refused or delayed
 * because of Redis. Without REDIS_URL every counter is in memory, per instance.
 *
 * The client is ioredis: rate-limiter-flexible runs its increment script through ioredis'
 * defineCommand (EVALSHA, not the script's text on every call) and reads its `status` for
 * `rejectIfRedisNotReady`; and ioredis bounds every wait we need bounded: connectTimeout,
 * commandTimeout, no offline queue and no retry of a command across reconnects.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, type RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisConfig } from '../config/config.ts';

/** What /readyz and the metrics say about the counting. */
export interface CounterStoreState {
  readonly store: 'redis' | 'memory';
  /** counted across the fleet right now */
  readonly shared: boolean;
  readonly detail: string;
}

export interface CounterStore {
  /** A counter of `points` per `seconds` window; one per distinct name, points and window. */
  counter(name: string, points: number, seconds: number): RateLimiterAbstract;
  state(): CounterStoreState;
  close(): Promise<void>;
}

/** Reconnect delays while Redis is away: quick at first, then every 2 s, for as long as it takes. */
const reconnectDelayMs = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/** The Redis URL without its password, for logs and /readyz. */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/** An in-memory limiter that tells when it is used: rate-limiter-flexible calls it only when Redis failed. */
class InsuranceLimiter extends RateLimiterMemory {
  readonly #onUse: () => void;
  constructor(options: { points: number; duration: number }, onUse: () => void) {
    super(options);
    this.#onUse = onUse;
  }
  override consume(...args: Parameters<RateLimiterMemory['consume']>): Promise<RateLimiterRes> {
    this.#onUse();
    return super.consume(...args);
  }
  override penalty(...args: Parameters<RateLimiterMemory['penalty']>): Promise<RateLimiterRes> {
    this.#onUse();
    return super.penalty(...args);
  }
  override reward(...args: Parameters<RateLimiterMemory['reward']>): Promise<RateLimiterRes> {
    this.#onUse();
    return super.reward(...args);
  }
  override get(...args: Parameters<RateLimiterMemory['get']>): Promise<RateLimiterRes | null> {
    this.#onUse();
    return super.get(...args);
  }
}

function createMemoryStore(): CounterStore {
  const counters = new Map<string, RateLimiterMemory>();
  return {
    counter(name, points, seconds) {
      const id = `${name}:${points}/${seconds}`;
      let counter = counters.get(id);
      if (!counter) counters.set(id, (counter = new RateLimiterMemory({ points, duration: seconds, keyPrefix: name })));
      return counter;
    },
    state: () => ({ store: 'memory', shared: false, detail: 'REDIS_URL is not set: limits and quotas are counted per instance' }),
    close: async () => {},
  };
}

export function createCounterStore(options: {
  redis: RedisConfig | undefined;
  log: Logger;
  /** a decision was counted in memory because Redis did not answer */
  onFallback?: () => void;
}): CounterStore {
  const { redis: config, log } = options;
  if (!config) return createMemoryStore();
  const where = describeUrl(config.url);
  const client = new Redis(config.url, {
    connectTimeout: config.timeoutMs,
    commandTimeout: config.timeoutMs,
    // a command while disconnected fails at once (the insurance limiter counts it) instead of
    // waiting in a queue for a Redis that may never come back
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: reconnectDelayMs,
    // a peer that vanished without a reset is noticed by TCP itself after this delay, not hours
    keepAlive: 10_000,
    // ready only once Redis answers INFO (within commandTimeout, or the connection is replaced):
    // meanwhile rate-limiter-flexible goes straight to memory instead of waiting per command
    enableReadyCheck: true,
  });
  // failed since the connection became ready: a silent Redis (commands time out) keeps its socket
  let failing = false;
  let closing = false;
  client.on('ready', () => {
    if (failing) log.info({ redis: where }, 'Redis answers again: limits and quotas are counted across the fleet');
    failing = false;
  });
  client.on('error', (error: Error) => {
    if (!failing) log.warn({ redis: where, err: error.message }, 'Redis is unreachable: limits and quotas are counted per instance');
    failing = true;
  });
  client.on('close', () => {
    if (!failing && !closing) log.warn({ redis: where }, 'Redis closed the connection: limits and quotas are counted per instance');
    if (!closing) failing = true;
  });

  const fallback = () => {
    options.onFallback?.();
    if (client.status === 'ready' && !failing) {
      log.warn({ redis: where }, 'Redis did not answer in time: limits and quotas are counted per instance; reconnecting');
      failing = true;
      // a connection whose commands time out may be dead without a reset: replace it
      client.disconnect(true);
    }
  };

  const counters = new Map<string, RateLimiterRedis>();
  return {
    counter(name, points, seconds) {
      const id = `${name}:${points}/${seconds}`;
      let counter = counters.get(id);
      if (!counter) {
        counter = new RateLimiterRedis({
          storeClient: client,
          points,
          duration: seconds,
          keyPrefix: `${config.keyPrefix}${id}`,
          rejectIfRedisNotReady: true,
          insuranceLimiter: new InsuranceLimiter({ points, duration: seconds }, fallback),
        });
        counters.set(id, counter);
      }
      return counter;
    },
    state() {
      const shared = client.status === 'ready' && !failing;
      return shared
        ? { store: 'redis', shared, detail: `limits and quotas are counted across the fleet in Redis at ${where}` }
        : {
            store: 'redis',
            shared,
            detail: `Redis at ${where} is not answering: limits and quotas are counted per instance until it does`,
          };
    },
    async close() {
      closing = true;
      // QUIT waits for nothing once the timeout passes: a dead Redis never holds a shutdown
      await Promise.race([client.quit().catch(() => {}), new Promise((resolve) => setTimeout(resolve, config.timeoutMs).unref())]);
      client.disconnect();
    },
  };
}
