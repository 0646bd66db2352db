/**
 * knex as a SQL builder only. It composes statements and quotes identifiers; it never connects:
 * what it compiles runs through our own scoped transaction and single-round-trip scoped read
 * (database.ts), because knex's own transactions send BEGIN as a separate round trip and PGlite
 * would need a third-party dialect.
 *
 * `knex({ client: 'pg' })` with no `connection` loads no driver and creates no pool (knex does
 * both only when a connection is configured), so the instance holds nothing that varies per
 * query or per tenant and one can be shared.
 */
import knex, { type Knex } from 'knex';

/** The Postgres dialect, no connection. */
export const sql: Knex = knex({ client: 'pg' });

/** A compiled statement: `$1…` placeholders, and the values they stand for in order. */
export interface NativeStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

export function toNative(statement: Knex.QueryBuilder | Knex.Raw): NativeStatement {
  const native = statement.toSQL().toNative();
  return { text: native.sql, values: native.bindings };
}

/**
 * A statement compiled once, at startup, whose values are passed at each call: it is built with
 * positional placeholders written as `sql.raw('$1')`, so it must carry no values of its own.
 */
export function compileStatic(statement: Knex.QueryBuilder | Knex.Raw): string {
  const native = toNative(statement);
  if (native.values.length) throw new TypeError(`a static statement carries values: ${native.text}`);
  return native.text;
}

/** `$n` with an optional cast, for a static statement's placeholders. */
export const placeholder = (position: number, cast?: string): Knex.Raw => sql.raw(cast ? `$${position}::${cast}` : `$${position}`);
