/**
 * The one classifier of database failures that answer 503 (isDatabaseUnavailable), and the
 * database timeouts' configuration. What each error means is pg's and Postgres's; the fault
 * suite (test/e2e/database-faults.test.ts) meets the real ones.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_DATABASE_SETTINGS, loadConfig } from '../../src/config/config.ts';
import { DatabaseUnavailableError, isDatabaseUnavailable } from '../../src/db/database.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
const serverError = (code: string) => Object.assign(new pg.DatabaseError('from the server', 0, 'error'), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a refused connection', withCode('ECONNREFUSED')],
    ['a reset connection', withCode('ECONNRESET')],
    ['a socket timeout', withCode('ETIMEDOUT')],
    ['an unresolvable host', withCode('ENOTFOUND')],
    ['a terminated backend (57P01)', serverError('57P01')],
    ['a crash shutdown (57P02)', serverError('57P02')],
    ['a server starting up (57P03)', serverError('57P03')],
    ['statement_timeout (57014)', serverError('57014')],
    ['idle_in_transaction_session_timeout (25P03)', serverError('25P03')],
    ['a connection exception (08006)', serverError('08006')],
    ['too many connections (53300)', serverError('53300')],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg: Query read timeout', new Error('Query read timeout')],
    ['pg-pool: waiting for a connection', new Error('timeout exceeded when trying to connect')],
    ['pg: connect timeout', new Error('timeout expired')],
    ['pg: a client that lost its connection', new Error('Client has encountered a connection error and is not queryable')],
    [
      'pg-pool: a connect timeout wrapping its cause',
      new Error('Connection terminated due to connection timeout', { cause: new Error('x') }),
    ],
    ['a cause several levels down', new Error('outer', { cause: new Error('middle', { cause: withCode('ECONNRESET') }) })],
    ['several addresses refused', Object.assign(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'all failed'))],
    ['a full wait queue', new DatabaseUnavailableError('queue full')],
  ])('yes: %s', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation (23505)', serverError('23505')],
    ['a foreign key violation (23503)', serverError('23503')],
    ['a data exception (22P02)', serverError('22P02')],
    ['a serialization failure (40001)', serverError('40001')],
    ['a syntax error (42601)', serverError('42601')],
    ['a plain error', new Error('something else')],
    ['a TypeError', new TypeError('tenant id must be a lower-case uuid')],
    ['not an error', { code: 'ECONNRESET' }],
    ['nothing', undefined],
  ])('no: %s', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});

describe('database settings', () => {
  it('default to bounded waits: 5 s to connect or to answer, Postgres cancelling first', () => {
    expect(DEFAULT_DATABASE_SETTINGS).toEqual({
      poolSize: 10,
      poolQueue: 100,
      connectTimeoutMs: 5000,
      queryTimeoutMs: 5000,
      statementTimeoutMs: 4000,
      idleInTransactionTimeoutMs: 5000,
      keepAliveMs: 5000,
    });
    expect(loadConfig({ DATABASE_POOL_QUEUE: '0', DATABASE_QUERY_TIMEOUT_MS: '9000' }).database).toMatchObject({
      poolQueue: 0,
      queryTimeoutMs: 9000,
    });
  });

  it('refuses a statement timeout the client would give up before', () => {
    expect(() => loadConfig({ DATABASE_STMT_TIMEOUT_MS: '5000' })).toThrow(
      new ConfigError('DATABASE_STMT_TIMEOUT_MS', 'must be below DATABASE_QUERY_TIMEOUT_MS (5000), got 5000'),
    );
    expect(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: '50' })).toThrow(/^DATABASE_QUERY_TIMEOUT_MS: expected an integer \(100\)/);
  });
});
