/**
 * data-growth: our clockings list when the data has grown, on Postgres. 10 million clockings over
 * 1,000 tenants (the largest 2 million) are bulk-loaded with COPY as the role that ran the
 * migrations (growth-load.ts); then, through our real server as the runtime role, over HTTP:
 * - the first page against a page a million rows deep in the largest tenant, by keyset cursor,
 *   single requests one at a time (p50, p99);
 * - an updated_since walk over a million rows in pages of 200 following `next`, in rows per
 *   second, against the same pages read by raw keyset SELECTs through pg;
 * - the plan of every list query shape (growth-plans.ts) on the largest tenant.
 * Skipped on PGlite: ten million rows in an in-process wasm database stand for no deployment, and
 * COPY FROM STDIN is Postgres's wire protocol.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { encodeCursor } from '../../src/http/pagination.ts';
import { APP_ROLE } from '../../src/db/database.ts';
import { log } from '../console.ts';
import { CLOCKINGS_PER_EMPLOYEE, clockingsPerTenant } from '../growth-data.ts';
import { loadGrowthData } from '../growth-load.ts';
import { planActivityDelete, planListShapes, type PlannedShape } from '../growth-plans.ts';
import { fetchToken, type LoopbackRequest, loopbackRequest } from '../http.ts';
import { describeLatencies } from '../latency-series.ts';
import { type LatencySeries, NOT_MEASURED, type ProcessUse } from '../measurements.ts';
import { startProcessUse } from '../process-use.ts';
import { profileNotes, type ProfileSummary, summarizeProfile } from '../profile-summary.ts';
import type { Scenario } from '../scenario.ts';
import { median, round } from '../stats.ts';
import { compare, ratio } from '../summary.ts';
import { authenticationHost, firstTenant, startOurs, tenantHost, tokenPath } from './servers.ts';

const PAGE = 200;
/** one of the scopes bench/servers/ours.ts gives its tenants and clients */
const CLOCKINGS_READ = 'clockings:read';
const WARMUP_REQUESTS = 20;
/** pages of the extra walk the CPU profile is taken of */
const PROFILED_PAGES = 200;
const UTC = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

interface Walk {
  readonly rows: number;
  readonly pages: number;
  readonly seconds: number;
  readonly latencies: number[];
  readonly use: ProcessUse;
}

/** Our API: the first page of the walk, then each `next` link, until there is none. */
async function walkOurs(request: (path: string) => LoopbackRequest, pid: number, since: string, maxPages = Infinity): Promise<Walk> {
  let next: string | null = `/api/v1/clockings?${new URLSearchParams({ updated_since: since, sort: 'updated_at', limit: String(PAGE) })}`;
  const latencies: number[] = [];
  let rows = 0;
  const measure = startProcessUse(pid);
  const started = performance.now();
  while (next) {
    const response = await loopbackRequest(request(next));
    if (response.status !== 200) throw new Error(`walk: GET ${next} answered ${response.status}: ${response.body.slice(0, 300)}`);
    latencies.push(response.ms);
    const body = JSON.parse(response.body) as { data: unknown[]; next: string | null };
    rows += body.data.length;
    next = body.next && latencies.length < maxPages ? `${new URL(body.next).pathname}${new URL(body.next).search}` : null;
  }
  const seconds = (performance.now() - started) / 1000;
  return { rows, pages: latencies.length, seconds, latencies, use: measure(latencies.length) };
}

/**
 * The baseline: the same pages by keyset SELECTs through pg on one connection, as the runtime role
 * under the same row level security (set once for the session), no HTTP.
 */
async function walkRaw(databaseUrl: string, tenantId: string, since: string, pid: number): Promise<Walk> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`SET ROLE ${APP_ROLE}; SELECT set_config('app.tenant_id', '${tenantId}', false)`);
    const columns =
      'id, employee_id, occurred_at, utc_offset_minutes, direction, activity_definition_id, source_device, created_at, updated_at, version';
    const latencies: number[] = [];
    let rows = 0;
    let after: { updated_at: Date; id: string } | undefined;
    const measure = startProcessUse(pid);
    const started = performance.now();
    for (;;) {
      const pageStarted = performance.now();
      const page = after
        ? await client.query<{ updated_at: Date; id: string }>(
            `SELECT ${columns} FROM clockings WHERE tenant_id = $1 AND updated_at >= $2 AND (updated_at, id) > ($3, $4)
              ORDER BY updated_at, id LIMIT ${PAGE}`,
            [tenantId, since, after.updated_at, after.id],
          )
        : await client.query<{ updated_at: Date; id: string }>(
            `SELECT ${columns} FROM clockings WHERE tenant_id = $1 AND updated_at >= $2 ORDER BY updated_at, id LIMIT ${PAGE}`,
            [tenantId, since],
          );
      latencies.push(performance.now() - pageStarted);
      rows += page.rows.length;
      after = page.rows.at(-1);
      if (page.rows.length < PAGE) break;
    }
    const seconds = (performance.now() - started) / 1000;
    return { rows, pages: latencies.length, seconds, latencies, use: measure(latencies.length) };
  } finally {
    await client.end();
  }
}

function walkSeries(variant: string, repeat: number, walk: Walk): LatencySeries {
  return { ...describeLatencies(variant, repeat, walk.latencies, { 200: walk.pages }), ...walk.use };
}

export const dataGrowth: Scenario = {
  name: 'data-growth',
  description:
    'Clockings when the data has grown (Postgres only): the first page against a page deep in the largest tenant, by keyset cursor; ' +
    'an updated_since walk in pages of 200 against raw keyset SELECTs through pg; the plan of every list query shape.',
  async run(context) {
    const settings = context.settings;
    const databaseUrl = context.database.url;
    if (!databaseUrl) {
      return {
        variants: [],
        loadRuns: [],
        latencySeries: [],
        comparisons: [],
        notes: ['Skipped: data-growth runs on Postgres only (COPY, and millions of rows PGlite would hold in memory).'],
      };
    }
    const counts = clockingsPerTenant(settings.growthClockings, settings.growthTenants, settings.growthLargest);
    // one employee's clockings are deleted after the load
    const largestAfterDeletion = settings.growthLargest - CLOCKINGS_PER_EMPLOYEE;
    if (settings.growthDepth + PAGE > largestAfterDeletion || settings.growthWalkRows > largestAfterDeletion)
      throw new RangeError(
        `BENCH_GROWTH_DEPTH (${settings.growthDepth}) + ${PAGE} and BENCH_GROWTH_WALK (${settings.growthWalkRows}) must fit in the largest tenant's ${largestAfterDeletion} clockings`,
      );
    const ours = await startOurs(context, { tenants: 1 });
    const tenant = firstTenant(ours);

    log(`  loading ${settings.growthClockings} clockings over ${settings.growthTenants} tenants (the largest ${settings.growthLargest})`);
    const load = await loadGrowthData({
      databaseUrl,
      largestTenantId: tenant.id,
      environment: tenant.environment,
      counts,
      progress: (line) => log(`  ${line}`),
    });
    log(`  loaded in ${load.totalS} s: ${JSON.stringify(load)}`);

    const owner = new pg.Client({ connectionString: databaseUrl });
    await owner.connect();
    const lookup = async <T extends Record<string, unknown>>(sql: string, values: unknown[]): Promise<T> => {
      const { rows } = await owner.query<T>(sql, values);
      if (!rows[0]) throw new Error(`no row for ${sql}`);
      return rows[0];
    };
    let walkSince: string;
    let walkExpected: number;
    let deepId: string;
    let pageEndId: string;
    let afterDeepId: string;
    let employeeId: string;
    let month: { from: string; to: string };
    try {
      const { rows: remaining } = await lookup<{ rows: string }>('SELECT count(*) AS rows FROM clockings WHERE tenant_id = $1', [
        tenant.id,
      ]);
      const tenantRows = Number(remaining);
      // the cursor of row n in id order is its id twice (sort key and id: src/http/pagination.ts); so
      // row `depth`'s makes the page a million rows deep, and row PAGE's must be the first page's `next`
      const idAt = async (n: number) =>
        (await lookup<{ id: string }>('SELECT id FROM clockings WHERE tenant_id = $1 ORDER BY id OFFSET $2 LIMIT 1', [tenant.id, n - 1]))
          .id;
      deepId = await idAt(settings.growthDepth);
      afterDeepId = await idAt(settings.growthDepth + 1);
      pageEndId = await idAt(PAGE);
      // the walk: from the updated_at that leaves growthWalkRows rows at or after it
      ({ since: walkSince } = await lookup<{ since: string }>(
        `SELECT ${UTC('updated_at')} AS since FROM clockings WHERE tenant_id = $1 ORDER BY updated_at, id OFFSET $2 LIMIT 1`,
        [tenant.id, tenantRows - settings.growthWalkRows],
      ));
      walkExpected = Number(
        (
          await lookup<{ rows: string }>('SELECT count(*) AS rows FROM clockings WHERE tenant_id = $1 AND updated_at >= $2', [
            tenant.id,
            walkSince,
          ])
        ).rows,
      );
      ({ employee_id: employeeId } = await lookup<{ employee_id: string }>(
        'SELECT employee_id FROM clockings WHERE tenant_id = $1 ORDER BY id LIMIT 1',
        [tenant.id],
      ));
      month = await lookup<{ from: string; to: string }>(
        `SELECT ${UTC('o')} AS from, ${UTC("(o + interval '1 month')")} AS to
           FROM (SELECT occurred_at AS o FROM clockings WHERE tenant_id = $1 ORDER BY occurred_at, id OFFSET $2 LIMIT 1) AS m`,
        [tenant.id, Math.floor(tenantRows / 2)],
      );
    } finally {
      await owner.end();
    }

    const token = await fetchToken(
      ours.info.port,
      authenticationHost(ours),
      tokenPath(tenant),
      tenant.clientId,
      tenant.clientSecret,
      CLOCKINGS_READ,
    );
    const request = (path: string): LoopbackRequest => ({
      port: ours.info.port,
      host: tenantHost(ours, tenant),
      path,
      headers: { authorization: `Bearer ${token}` },
    });
    const firstPath = `/api/v1/clockings?limit=${PAGE}`;
    const deepPath = `/api/v1/clockings?limit=${PAGE}&cursor=${encodeCursor('id', { key: deepId, id: deepId })}`;

    // the constructed cursors are the server's: its first `next` is row PAGE's, and the deep page starts after row `depth`
    const first = await loopbackRequest(request(firstPath));
    const firstBody = JSON.parse(first.body) as { data: { id: string }[]; next: string | null };
    const expectedNext = encodeCursor('id', { key: pageEndId, id: pageEndId });
    if (first.status !== 200 || new URL(firstBody.next ?? 'http://x/').searchParams.get('cursor') !== expectedNext)
      throw new Error(`the first page's next link is not the constructed cursor: ${first.status} ${first.body.slice(0, 300)}`);
    const deep = await loopbackRequest(request(deepPath));
    const deepBody = JSON.parse(deep.body) as { data: { id: string }[] };
    if (deep.status !== 200 || deepBody.data[0]?.id !== afterDeepId || deepBody.data.length !== PAGE)
      throw new Error(`the deep page does not start after row ${settings.growthDepth}: ${deep.status} ${deep.body.slice(0, 300)}`);

    const series: LatencySeries[] = [];
    const pooled: Record<string, number[]> = {};
    const record = (variant: string, repeat: number, latencies: number[], s: LatencySeries) => {
      series.push(s);
      (pooled[variant] ??= []).push(...latencies);
      log(`  run ${repeat}    ${variant.padEnd(14)} ${s.requests} requests  p50 ${s.p50} ms  p99 ${s.p99} ms  non-2xx ${s.non2xx}`);
      if (s.non2xx > 0) context.problems.push(`${variant} run ${repeat}: ${s.non2xx} non-2xx responses (${JSON.stringify(s.statusCodes)})`);
    };
    // first and deep requests interleaved one by one (which goes first alternating), so whatever
    // else loads the machine falls on both alike
    const samples = settings.growthSamples;
    for (let i = 0; i < WARMUP_REQUESTS; i++) for (const path of [firstPath, deepPath]) await loopbackRequest(request(path));
    const pageUse = startProcessUse(ours.pid);
    for (let repeat = 1; repeat <= settings.repeats; repeat++) {
      const latencies: Record<'first' | 'deep', number[]> = { first: [], deep: [] };
      const codes: Record<'first' | 'deep', Record<string, number>> = { first: {}, deep: {} };
      for (let i = 0; i < samples; i++) {
        for (const variant of i % 2 ? (['deep', 'first'] as const) : (['first', 'deep'] as const)) {
          const response = await loopbackRequest(request(variant === 'first' ? firstPath : deepPath));
          latencies[variant].push(response.ms);
          codes[variant][response.status] = (codes[variant][response.status] ?? 0) + 1;
        }
      }
      for (const variant of ['first', 'deep'] as const) {
        const name = `${variant} page`;
        record(name, repeat, latencies[variant], {
          ...describeLatencies(name, repeat, latencies[variant], codes[variant]),
          ...NOT_MEASURED,
        });
      }
    }
    const pagesUse = pageUse(2 * samples * settings.repeats);

    const walks: Record<'ours' | 'raw pg', Walk[]> = { ours: [], 'raw pg': [] };
    for (let repeat = 1; repeat <= settings.repeats; repeat++) {
      const order = repeat % 2 ? (['ours', 'raw pg'] as const) : (['raw pg', 'ours'] as const);
      for (const variant of order) {
        const walk =
          variant === 'ours' ? await walkOurs(request, ours.pid, walkSince) : await walkRaw(databaseUrl, tenant.id, walkSince, ours.pid);
        if (walk.rows !== walkExpected)
          context.problems.push(`${variant} walk run ${repeat}: ${walk.rows} rows, expected ${walkExpected} (updated_at >= ${walkSince})`);
        walks[variant].push(walk);
        record(`walk ${variant}`, repeat, walk.latencies, walkSeries(`walk ${variant}`, repeat, walk));
        log(`           ${walk.rows} rows in ${walk.pages} pages, ${Math.round(walk.rows / walk.seconds)} rows/s`);
      }
    }

    // where our server spends its CPU on a walk: a profile of an extra, unmeasured part of one
    const profileFile = path.join(os.tmpdir(), `tenant-connect-bench-growth-${process.pid}-${Date.now()}.cpuprofile`);
    await ours.profile('start');
    const profiledWalk = await walkOurs(request, ours.pid, walkSince, PROFILED_PAGES);
    await ours.profile('stop', profileFile);
    let profile: ProfileSummary;
    try {
      profile = summarizeProfile(
        JSON.parse(fs.readFileSync(profileFile, 'utf8')) as Parameters<typeof summarizeProfile>[0],
        profiledWalk.pages,
      );
    } finally {
      fs.rmSync(profileFile, { force: true });
    }

    log('  planning every list shape');
    const plans = await planListShapes({
      databaseUrl,
      tenantId: tenant.id,
      depth: settings.growthDepth,
      updatedSince: walkSince,
      employeeId,
      month,
    });
    const activityDelete = await planActivityDelete(databaseUrl, tenant.id);

    const together = Object.entries(pooled).map(([variant, latencies]) => ({
      ...describeLatencies(variant, 0, latencies, { 200: latencies.length }),
      ...NOT_MEASURED,
    }));
    const by = (variant: string) => together.find((s) => s.variant === variant);
    const rowsPerSecond = (variant: 'ours' | 'raw pg') => median(walks[variant].map((w) => w.rows / w.seconds));
    const dbCpuPerPage = (variant: 'ours' | 'raw pg') => median(walks[variant].map((w) => (w.use.dbCpuMs ?? Number.NaN) / w.pages));
    const served = plans.filter((p) => !p.unserved);
    const unbounded = served.filter((p) => p.findings.length > 0);
    const triggerLine = (plan: string) => plan.split('\n').find((line) => line.includes('Trigger for constraint clockings')) ?? '';
    const walkRatio = ratio(rowsPerSecond('ours'), rowsPerSecond('raw pg'));
    const deepP50 = ratio(by('deep page')?.p50, by('first page')?.p50);
    const deepP99 = ratio(by('deep page')?.p99, by('first page')?.p99);
    const oursCpuPerPage = median(walks.ours.map((w) => w.use.cpuUsPerRequest ?? Number.NaN));
    const planOf = (label: string) => plans.find((p) => p.label === label);
    const firstPlan = planOf('sort=id, first page');
    const deepPlan = planOf(`sort=id, ${settings.growthDepth} rows deep`);
    const costLine = (p: PlannedShape | undefined) => (p ? `${p.executionMs ?? '–'} ms, ${p.buffers ?? 'no buffers'}` : '–');
    const frames = profile.topFrames
      .slice(0, 8)
      .map((f) => `${f.frame} ${f.usPerRequest}`)
      .join('; ');
    const analysis: string[] = [];
    if ((deepP50 ?? 0) > 1.2 || (deepP99 ?? 0) > 1.2)
      analysis.push(
        `**Deep page / first page: p50 ${deepP50}, p99 ${deepP99} (target ≤ 1.2).** In the database the two pages cost the same: ` +
          `EXPLAIN ANALYZE of the first page ${costLine(firstPlan)}; of the page ${settings.growthDepth} rows deep ${costLine(deepPlan)} ` +
          '(one descent of the (tenant_id, id) index, then 201 rows in order either way). Single requests one at a time on a machine ' +
          'other work loads are what differ: see "other CPU" of the runs.',
      );
    if (walkRatio !== undefined && walkRatio < 0.7)
      analysis.push(
        `**updated_since walk ours / raw pg ${walkRatio} (target ≥ 0.7).** Each of our pages costs ${oursCpuPerPage} µs of server CPU ` +
          `for ${PAGE} rows; Postgres spends ${round(dbCpuPerPage('ours'), 2)} ms per page for ours and ${round(dbCpuPerPage('raw pg'), 2)} ms for the raw SELECT ` +
          '(ours also sets the role and tenant in the same round trip and formats timestamps as text in SQL). The raw walk does no HTTP, ' +
          'no token check, no JSON and no response validation (ours checks every page against its schema with ajv and its formats). ' +
          `Top frames of our server on the walk (self time, µs per page): ${frames}; by package: ` +
          `${profile.byPackage
            .slice(0, 8)
            .map((p) => `${p.name} ${p.usPerRequest}`)
            .join(', ')}. The profiler samples wall time on the main thread: on a machine other work keeps busy, a frame's self time ` +
          'includes the time the process waited for a core while in it, so compare the frames with each other, not with the CPU per page.',
      );

    return {
      variants: [
        { name: 'first page', description: `GET /api/v1/clockings?limit=${PAGE} on the largest tenant, one request at a time` },
        {
          name: 'deep page',
          description: `the same with the cursor of row ${settings.growthDepth} in id order (built from a SQL lookup as the server encodes it, and checked against its next link)`,
        },
        { name: 'walk ours', description: `updated_since=…&sort=updated_at&limit=${PAGE}, following next over HTTP (per page)` },
        { name: 'walk raw pg', description: `the same pages by keyset SELECTs through pg as the runtime role, no HTTP (per page)` },
      ],
      loadRuns: [],
      latencySeries: [...series, ...together],
      comparisons: [
        compare('deep page p50 / first page p50', deepP50, '<= 1.2'),
        compare('deep page p99 / first page p99', deepP99, '<= 1.2'),
        compare('updated_since walk rows/s ours / raw pg', walkRatio, '>= 0.7'),
        compare('Postgres CPU per page ours / raw pg', ratio(dbCpuPerPage('ours'), dbCpuPerPage('raw pg'))),
        compare('list shapes not read by an index scan bounded by tenant_id', unbounded.length, '<= 0'),
      ],
      notes: [
        `Loaded ${settings.growthClockings} clockings over ${settings.growthTenants} tenants (the largest ${settings.growthLargest}, the others ${counts.at(-1)}–${counts[1] ?? 0}) in ${load.totalS} s: ` +
          `tenants, employees and activities ${load.setupS} s, COPY ${load.copyS} s, secondary indexes ${load.indexS} s, foreign keys ${load.foreignKeyS} s, VACUUM ANALYZE ${load.vacuumS} s; ` +
          `clockings ${load.tableMb} MB, their indexes ${load.indexesMb} MB. ${load.deletedRows} of the largest tenant's clockings (one employee's) were then deleted, leaving tombstones.`,
        'The load (bench/growth-load.ts) runs as the role that ran the migrations, with COPY FROM STDIN through pg-copy-streams (a dev dependency: pg has no COPY FROM STDIN of its own; ' +
          'generating the rows server-side with INSERT … SELECT would not be the COPY an operator\'s import uses). Secondary indexes and foreign keys are dropped and made again around the COPY, as Postgres\'s "Populating a Database" advises; every row is checked by each foreign key when it is made again.',
        `Walk: ${walkExpected} rows updated at or after ${walkSince}; ours ${round(rowsPerSecond('ours'), 0)} rows/s, raw pg ${round(rowsPerSecond('raw pg'), 0)} rows/s (medians over ${settings.repeats} walk(s) each).`,
        `${served.length - unbounded.length} of ${served.length} list shapes read clockings (or tombstones) by an index scan bounded by tenant_id, without sorting` +
          (unbounded.length ? `; not: ${unbounded.map((p) => `${p.label} (${p.findings.join('; ')})`).join(', ')}` : '.'),
        ...plans
          .filter((p) => p.unserved)
          .map(
            (p) =>
              `Range under another sort, served by no one index by design: ${p.label}: ${p.summary}${p.findings.length ? ` (${p.findings.join('; ')})` : ''}.`,
          ),
        `Deleting an unused activity definition, the check for clockings still naming it: with clockings_by_activity_definition_id ${triggerLine(activityDelete.withIndex).trim()}; without it ${triggerLine(activityDelete.withoutIndex).trim()}.`,
        `First and deep pages interleaved request by request: server CPU ${pagesUse.cpuUsPerRequest ?? '–'} µs per request for both together (other processes: ${pagesUse.otherCpuPct ?? '–'} % of a core). ` +
          `In Postgres (EXPLAIN ANALYZE, sort=id): first page ${costLine(firstPlan)}; ${settings.growthDepth} rows deep ${costLine(deepPlan)}.`,
        `Walk server CPU: ${oursCpuPerPage} µs per page of ${PAGE} (ours); other processes used ${walks.ours.map((w) => w.use.otherCpuPct ?? '–').join(', ')} % of a core during our walks.`,
        ...profileNotes(`our server on ${profiledWalk.pages} pages of the walk (per page)`, profile),
        ...plans.map((p) => `Plan, ${p.label}: ${p.summary} — ${costLine(p)}${p.findings.length ? ` — ${p.findings.join('; ')}` : ''}.`),
        'Latency is measured by the benchmark client (node:http, keep-alive, one socket), so it includes the loopback round trip.',
      ],
      analysis,
      plans: [
        ...plans.map((p) => ({ label: `${p.label}${p.findings.length ? ` — ${p.findings.join('; ')}` : ''}`, plan: p.analyzed })),
        { label: 'DELETE of an unused activity definition (foreign key check on clockings)', plan: activityDelete.withIndex },
        {
          label: 'the same without clockings_by_activity_definition_id (dropped in a rolled-back transaction)',
          plan: activityDelete.withoutIndex,
        },
      ],
    };
  },
};
