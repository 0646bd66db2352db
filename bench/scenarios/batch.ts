/**
 * batch: `POST /api/v1/clockings/batch` with 1,000 clockings (validation, reference checks, one
 * multi-row INSERT, commit), one request at a time, p50/p99 latency. The target is absolute
 * (p50 <= 250 ms on Postgres); a bare pg INSERT of the same 1,000 rows, run from this process in
 * the same run, is recorded as the reference for what the database alone costs.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { log } from '../console.ts';
import { fetchToken, type LoopbackRequest } from '../http.ts';
import { describeLatencies, timeSeries } from '../latency-series.ts';
import { type LatencySeries, NOT_MEASURED } from '../measurements.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio } from '../summary.ts';
import { authenticationHost, firstTenant, startOurs, tenantHost, tokenPath } from './servers.ts';
import { measureSyncCosts, type SyncCosts } from './sync-costs.ts';

const ITEMS = 1000;
const WARMUP_BATCHES = 3;

/** the first clocking's instant of a round; a round's 1,000 clockings are one second apart */
const roundStart = (round: number) => Date.UTC(2026, 0, 1) + round * ITEMS * 1000;

function batchBody(employeeIds: readonly string[], round: number): { items: Record<string, unknown>[] } {
  return {
    items: Array.from({ length: ITEMS }, (_, i) => ({
      employee_id: employeeIds[i % employeeIds.length],
      timestamp: new Date(roundStart(round) + i * 1000).toISOString().replace('Z', '+00:00'),
      direction: i % 2 ? 'out' : 'in',
      source_device: 'bench-importer',
    })),
  };
}

export const batch: Scenario = {
  name: 'batch',
  description: `A ${ITEMS}-item clocking batch per request, one at a time: validation, reference checks, insert and commit.`,
  async run(context) {
    const ours = await startOurs(context, { tenants: 1, employees: context.settings.employees });
    const tenant = firstTenant(ours);
    const token = await fetchToken(
      ours.info.port,
      authenticationHost(ours),
      tokenPath(tenant),
      tenant.clientId,
      tenant.clientSecret,
      'clockings:write',
    );
    const host = tenantHost(ours, tenant);
    const { employeeIds } = ours.info;
    const samples = context.settings.quick ? 5 : 20;
    let round = 0;
    const batchRequest = (r: number): LoopbackRequest => ({
      port: ours.info.port,
      host,
      method: 'POST',
      path: '/api/v1/clockings/batch',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(batchBody(employeeIds, r)),
    });
    const requests = (count: number): LoopbackRequest[] => Array.from({ length: count }, () => batchRequest((round += 1)));

    await timeSeries('warm-up', 0, ours.pid, requests(WARMUP_BATCHES));
    const series: LatencySeries[] = [];
    const all: number[] = [];
    const codes: Record<string, number> = {};
    for (let repeat = 1; repeat <= context.settings.repeats; repeat++) {
      const timed = await timeSeries('ours', repeat, ours.pid, requests(samples));
      series.push(timed.series);
      all.push(...timed.latencies);
      for (const [code, n] of Object.entries(timed.statusCodes)) codes[code] = (codes[code] ?? 0) + n;
      log(
        `  run ${repeat}    ours       ${samples} batches  p50 ${timed.series.p50} ms  p99 ${timed.series.p99} ms  non-2xx ${timed.series.non2xx}`,
      );
      if (timed.series.non2xx > 0)
        context.problems.push(`batch run ${repeat}: ${timed.series.non2xx} non-2xx (${JSON.stringify(timed.statusCodes)})`);
    }
    const ourSummary = { ...describeLatencies('ours', 0, all, codes), ...NOT_MEASURED };

    // reference: the same rows with one bare INSERT … SELECT unnest, straight from pg
    const reference: number[] = [];
    if (context.database.url) {
      const client = new pg.Client({ connectionString: context.database.url });
      await client.connect();
      try {
        for (let i = 0; i < samples * context.settings.repeats; i++) {
          const items = batchBody(employeeIds, (round += 1)).items;
          const started = performance.now();
          await client.query(
            `INSERT INTO clockings (tenant_id, employee_id, occurred_at, direction, source_device)
             SELECT $1, * FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::text[])`,
            [
              tenant.id,
              items.map((x) => x.employee_id),
              items.map((x) => x.timestamp),
              items.map((x) => x.direction),
              items.map((x) => x.source_device),
            ],
          );
          reference.push(performance.now() - started);
        }
      } finally {
        await client.end();
      }
    }
    // deletions that sync and the events feed: the same batches with and without them
    let sync: SyncCosts | undefined;
    if (context.database.url) {
      sync = await measureSyncCosts({
        databaseUrl: context.database.url,
        pid: ours.pid,
        tenantId: tenant.id,
        repeats: context.settings.repeats * 2,
        samples,
        batches: (count) => {
          const rounds = Array.from({ length: count }, () => (round += 1));
          return {
            requests: rounds.map(batchRequest),
            ranges: rounds.map((r) => [new Date(roundStart(r)).toISOString(), new Date(roundStart(r + 1)).toISOString()] as const),
          };
        },
      });
    }
    const referenceSummary = reference.length
      ? { ...describeLatencies('bare-insert', 0, reference, { 200: reference.length }), ...NOT_MEASURED }
      : undefined;

    return {
      variants: [
        { name: 'ours', description: `POST /api/v1/clockings/batch with ${ITEMS} items over HTTP` },
        { name: 'bare-insert', description: `the same ${ITEMS} rows as one INSERT … SELECT unnest with pg, no HTTP, no checks` },
      ],
      loadRuns: [],
      latencySeries: [...series, ourSummary, ...(referenceSummary ? [referenceSummary] : [])],
      comparisons: [
        compare('p50 latency of a 1,000-item batch (ms)', ourSummary.p50, context.database.url ? '<= 250' : undefined),
        compare('p99 latency of a 1,000-item batch (ms)', ourSummary.p99),
        compare('p50 ours / bare insert', ratio(ourSummary.p50, referenceSummary?.p50)),
        // an insert fires no tombstone trigger: the batch's ratio is what the events feed's txid and index cost it
        compare(
          'batch p50 with tombstones and events feed / before them (ratio, ≈1 is free)',
          ratio(sync?.batch.with, sync?.batch.without),
        ),
        compare('batch p50 with (ms)', sync?.batch.with),
        compare('batch p50 before (ms)', sync?.batch.without),
        compare('delete 1,000 clockings p50 with tombstones / before (ratio)', ratio(sync?.deletion.with, sync?.deletion.without)),
        compare('delete 1,000 clockings p50 with tombstones (ms)', sync?.deletion.with),
        compare('delete 1,000 clockings p50 before (ms)', sync?.deletion.without),
      ],
      notes: context.database.url
        ? [
            'Before = the same server and database with the tombstone trigger, the outbox txid default and the feed index dropped, ' +
              'alternated with them in place in the same run. A batch inserts, so the tombstone trigger does not fire for it: ' +
              'its ratio is what the events feed adds (every clocking already wrote its event before); the delete ratio is what tombstones add.',
          ]
        : [
            'No Postgres: the target applies to Postgres; these are PGlite numbers, and the with/before ratios need Postgres (DDL between rounds).',
          ],
    };
  },
};
