/**
 * What deletions that sync and the events feed cost a 1,000-clocking batch, as a ratio to the
 * schema before them, in the same run on the same database: `with` is the schema as migrated (the
 * outbox's txid column and its feed index, the tombstone trigger); `without` strips exactly those
 * three with DDL between rounds and restores them after. Each round posts batches over HTTP
 * (1,000 events each) and then deletes each batch's 1,000 clockings in one statement (1,000
 * tombstones each). Postgres only: the DDL runs from this process.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { log } from '../console.ts';
import type { LoopbackRequest } from '../http.ts';
import { median, round } from '../stats.ts';
import { timeSeries } from '../latency-series.ts';

const STRIP = `
  DROP TRIGGER clockings_tombstones ON clockings;
  DROP INDEX outbox_events_feed;
  ALTER TABLE outbox_events ALTER COLUMN txid DROP NOT NULL, ALTER COLUMN txid DROP DEFAULT;`;
const RESTORE = `
  UPDATE outbox_events SET txid = '0' WHERE txid IS NULL;
  ALTER TABLE outbox_events ALTER COLUMN txid SET DEFAULT pg_current_xact_id(), ALTER COLUMN txid SET NOT NULL;
  CREATE INDEX outbox_events_feed ON outbox_events (tenant_id, txid, id);
  CREATE TRIGGER clockings_tombstones AFTER DELETE ON clockings REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION record_tombstones('clockings');`;

export interface SyncCostInput {
  readonly databaseUrl: string;
  readonly pid: number;
  readonly tenantId: string;
  readonly repeats: number;
  readonly samples: number;
  /** `samples` batch requests, and for each the [from, to) range of its clockings' timestamps */
  readonly batches: (samples: number) => { requests: LoopbackRequest[]; ranges: (readonly [string, string])[] };
}

export interface SyncCosts {
  /** p50 ms of a batch POST, with and without */
  readonly batch: { readonly with: number; readonly without: number };
  /** p50 ms of deleting one batch's 1,000 clockings in one statement, with and without */
  readonly deletion: { readonly with: number; readonly without: number };
}

export async function measureSyncCosts(input: SyncCostInput): Promise<SyncCosts> {
  const client = new pg.Client({ connectionString: input.databaseUrl });
  await client.connect();
  const posts: Record<'with' | 'without', number[]> = { with: [], without: [] };
  const deletes: Record<'with' | 'without', number[]> = { with: [], without: [] };
  let stripped = false;
  try {
    for (let repeat = 1; repeat <= input.repeats; repeat++) {
      // alternate which goes first, so drift over the run falls on both alike
      const order: ('with' | 'without')[] = repeat % 2 ? ['with', 'without'] : ['without', 'with'];
      for (const variant of order) {
        if ((variant === 'without') !== stripped) {
          await client.query(stripped ? RESTORE : STRIP);
          stripped = !stripped;
        }
        const { requests, ranges } = input.batches(input.samples);
        const timed = await timeSeries(`sync ${variant}`, repeat, input.pid, requests);
        if (timed.series.non2xx > 0)
          throw new Error(`sync costs: ${timed.series.non2xx} batches failed (${JSON.stringify(timed.statusCodes)})`);
        posts[variant].push(...timed.latencies);
        for (const [from, to] of ranges) {
          const started = performance.now();
          await client.query('BEGIN');
          await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [input.tenantId]);
          const deleted = await client.query('DELETE FROM clockings WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3', [
            input.tenantId,
            from,
            to,
          ]);
          await client.query('COMMIT');
          deletes[variant].push(performance.now() - started);
          if (deleted.rowCount !== 1000) throw new Error(`sync costs: deleted ${deleted.rowCount} clockings from ${from}, expected 1000`);
        }
        log(
          `  run ${repeat}    sync ${variant.padEnd(7)}  batch p50 ${median(timed.latencies).toFixed(1)} ms  delete-1000 p50 ${median(deletes[variant].slice(-ranges.length)).toFixed(1)} ms`,
        );
      }
    }
  } finally {
    if (stripped) await client.query(RESTORE).catch(() => {});
    await client.end();
  }
  return {
    batch: { with: round(median(posts.with), 1) ?? 0, without: round(median(posts.without), 1) ?? 0 },
    deletion: { with: round(median(deletes.with), 1) ?? 0, without: round(median(deletes.without), 1) ?? 0 },
  };
}
