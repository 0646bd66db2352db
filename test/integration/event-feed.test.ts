/**
 * GET /api/v1/events: the tenant's events oldest first, with the webhooks' types and payloads,
 * paged by `after=<event id>`, filtered by `type` patterns and `created_after`, behind the
 * `events:read` scope. And the ordering trap: two transactions commit out of order while a
 * reader polls the feed; the reader never skips the late one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/db/ids.ts';
import { enqueueEvents } from '../../src/webhooks/outbox.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { apiClient, type ApiClient } from '../helpers/api-client.ts';
import { eventually } from '../helpers/eventually.ts';
import { requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

interface FeedEvent {
  id: string;
  type: string;
  tenant: string;
  environment: string;
  occurred_at: string;
  data: Record<string, unknown>;
}
interface FeedPage {
  data: FeedEvent[];
  next: string | null;
}

describe.each(testDatabaseKinds())('the events feed on %s', (kind) => {
  let server: TestServer;
  let api: ApiClient;
  let tenantId: string;
  /** the last event before this file's own */
  let start: string;

  const feed = (query: string) => api.request<FeedPage>('GET', `/events?${query}`);

  /** Follows `next` from `after` to the end; every event once. */
  async function readAll(after: string, query = ''): Promise<FeedEvent[]> {
    const events: FeedEvent[] = [];
    let url: string | null = `${api.credential.api_base}/events?after=${after}&limit=2${query}`;
    for (let pages = 0; url && pages < 50; pages += 1) {
      const response = await server.fetch(url, { headers: { authorization: `Bearer ${api.token}` } });
      expect(response.status).toBe(200);
      const page = (await response.json()) as FeedPage;
      events.push(...page.data);
      url = page.next;
    }
    return events;
  }

  beforeAll(async () => {
    server = await startTestServer(kind);
    api = await apiClient(server, 'sandbox', 'acme');
    [{ id: tenantId } = { id: '' }] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    // a marker event, so the feed from here holds only what this file writes
    const created = await api.request<{ id: string }>('POST', '/activity-definitions', {
      body: { code: 'FEED-0', name: 'marker', kind: 'other' },
    });
    const [marker] = await server.booted.db.admin.scoped(tenantId, (tx) =>
      tx.query<{ id: string }>(`SELECT id FROM outbox_events WHERE tenant_id = $1 AND data->>'id' = $2`, [tenantId, created.body.id]),
    );
    start = marker?.id ?? '';
  });

  afterAll(async () => {
    await server?.close();
  });

  it('lists events oldest first, as their webhooks carry them, paged by after', async () => {
    const unit = await api.request<Record<string, unknown> & { id: string }>('POST', '/org-units', {
      body: { code: 'FEED-1', name: 'one' },
    });
    const patched = await api.request<Record<string, unknown>>('PATCH', `/org-units/${unit.body.id}`, {
      body: { name: 'two' },
      headers: { 'if-match': '"1"', 'content-type': 'application/merge-patch+json' },
    });
    const deleted = await api.request('DELETE', `/org-units/${unit.body.id}`, { headers: { 'if-match': '"2"' } });
    expect([unit.status, patched.status, deleted.status]).toEqual([201, 200, 204]);

    let events: FeedEvent[] = [];
    // an event is readable once every transaction older than its own has ended (on a shared
    // Postgres, other sessions' transactions too)
    await eventually(async () => {
      events = await readAll(start);
      expect(events.map((e) => e.type)).toEqual(['org_unit.created', 'org_unit.updated', 'org_unit.deleted']);
    }, 10_000);
    expect(events.map((e) => e.data)).toEqual([unit.body, patched.body, { id: unit.body.id }]);
    for (const event of events) {
      expect(Object.keys(event)).toEqual(['id', 'type', 'tenant', 'environment', 'occurred_at', 'data']);
      expect(event).toMatchObject({ tenant: 'acme', environment: 'sandbox' });
      expect(event.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    // ids are the outbox's, which are the deliveries' webhook-id
    const stored = await server.booted.db.admin.scoped(tenantId, (tx) =>
      tx.query<{ id: string }>(`SELECT id FROM outbox_events WHERE tenant_id = $1 AND data->>'id' = $2 ORDER BY id`, [
        tenantId,
        unit.body.id,
      ]),
    );
    expect(events.map((e) => e.id)).toEqual(stored.map((s) => s.id));

    const first = await feed(`after=${start}&limit=1`);
    expect(first.status).toBe(200);
    expect(first.body.data.map((e) => e.id)).toEqual([events[0]?.id]);
    expect(first.body.next).toBe(`${api.credential.api_base}/events?limit=1&after=${events[0]?.id}`);
    expect(first.headers.get('link')).toBe(`<${first.body.next}>; rel="next"`);
    const last = await feed(`after=${events[2]?.id}`);
    expect(last.body).toEqual({ data: [], next: null });
  });

  it('filters by webhook type patterns and created_after', async () => {
    const activity = await api.request<{ id: string }>('POST', '/activity-definitions', {
      body: { code: 'FEED-2', name: 'two', kind: 'work' },
    });
    expect(activity.status).toBe(201);
    let all: FeedEvent[] = [];
    await eventually(async () => {
      all = await readAll(start);
      expect(all.at(-1)?.data.id).toBe(activity.body.id);
    }, 10_000);
    expect((await readAll(start, '&type=activity_definition.*')).map((e) => e.id)).toEqual(
      all.filter((e) => e.type.startsWith('activity_definition.')).map((e) => e.id),
    );
    expect((await readAll(start, '&type=org_unit.deleted,activity_definition.created')).map((e) => e.type)).toEqual([
      'org_unit.deleted',
      'activity_definition.created',
    ]);
    expect((await readAll(start, '&type=*')).map((e) => e.id)).toEqual(all.map((e) => e.id));
    // halfway between the last two events (milliseconds apart): the database keeps microseconds
    const [before, after] = all.slice(-2).map((e) => Date.parse(e.occurred_at));
    expect((after ?? 0) - (before ?? 0)).toBeGreaterThanOrEqual(2);
    const cut = new Date(Math.floor(((before ?? 0) + (after ?? 0)) / 2)).toISOString();
    expect((await readAll(start, `&created_after=${encodeURIComponent(cut)}`)).map((e) => e.id)).toEqual([all.at(-1)?.id]);
  });

  it('refuses a malformed query with 400 and an unknown event id with 410', async () => {
    const bad = await feed('type=employee');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ type: 'https://tenant-connect.dev/problems/invalid-query', status: 400 });
    expect((await feed('after=not-an-id')).status).toBe(400);
    expect((await feed('tenant_id=x')).status).toBe(400);

    const unknown = uuidv7();
    const gone = await feed(`after=${unknown}`);
    expect(gone.status).toBe(410);
    const body = gone.body as unknown as Record<string, unknown>;
    expect(body).toEqual({
      type: 'https://tenant-connect.dev/problems/resync-required',
      title: 'Full Resync Required',
      status: 410,
      detail: expect.stringMatching(
        new RegExp(
          `^No event ${unknown} in this feed: events are kept 30 days \\(EVENT_RETENTION_DAYS\\)\\. Page from created_after=\\d{4}-[^ ]+Z and skip the ids you already processed\\.$`,
        ),
      ),
      errors: [{ pointer: '/query/after', detail: 'unknown or expired event id' }],
    });
  });

  it('needs the events:read scope', async () => {
    const response = await requestToken(server, api.credential, { scope: 'employees:read' });
    const { access_token: token } = (await response.json()) as { access_token: string };
    const refused = await api.request('GET', '/events', { token });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ type: 'https://tenant-connect.dev/problems/insufficient-scope', status: 403 });
  });

  it("never shows another tenant's events, nor accepts its ids as a cursor", async () => {
    const globex = await apiClient(server, 'sandbox', 'globex');
    const theirs = await globex.request<FeedPage>('GET', '/events?limit=200');
    expect(theirs.status).toBe(200);
    expect(theirs.body.data.every((e) => e.tenant === 'globex')).toBe(true);
    const ours = await readAll(start);
    const crossed = await globex.request('GET', `/events?after=${ours[0]?.id}`);
    expect(crossed.status).toBe(410);
  });

  // PGlite is one connection: its transactions run one after another and cannot commit out of order.
  it.skipIf(kind === 'pglite')('never skips an event whose transaction commits after a later one was read', async () => {
    const db = server.booted.db;
    const seen: string[] = [];
    let cursor = (await readAll(start)).at(-1)?.id ?? start;
    const poll = async () => {
      const page = await feed(`after=${cursor}&limit=200`);
      expect(page.status).toBe(200);
      for (const event of page.body.data) seen.push(event.id);
      cursor = page.body.data.at(-1)?.id ?? cursor;
    };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await poll();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    /** A transaction that writes `id` and stays open until `commit` resolves. */
    const openTransaction = (id: string, wrote: () => void, commit: Promise<void>) =>
      db.scoped(tenantId, async (tx) => {
        await tx.query(`INSERT INTO outbox_events (tenant_id, id, type, data) VALUES ($1, $2, 'employee.updated', '{}')`, [tenantId, id]);
        wrote();
        await commit;
      });
    const committedElsewhere = async (id: string) =>
      (await db.admin.scoped(tenantId, (tx) => tx.query(`SELECT 1 FROM outbox_events WHERE tenant_id = $1 AND id = $2`, [tenantId, id])))
        .length === 1;

    // 1. the earlier id is written first and commits last: an id cursor would skip it
    // 2. the earlier id is made first but written (and so numbered by its transaction) second
    const scenarios = [
      { first: uuidv7(Date.now()), second: uuidv7(Date.now() + 1), earlierWritesFirst: true },
      { first: uuidv7(Date.now() + 2), second: uuidv7(Date.now() + 3), earlierWritesFirst: false },
    ];
    try {
      for (const { first, second, earlierWritesFirst } of scenarios) {
        let releaseLate!: () => void;
        const late = new Promise<void>((resolve) => (releaseLate = resolve));
        let lateWrote!: () => void;
        const lateWritten = new Promise<void>((resolve) => (lateWrote = resolve));
        // the late transaction holds `first`, the earlier id; the other one commits at once
        const lateTx = earlierWritesFirst ? openTransaction(first, lateWrote, late) : undefined;
        if (lateTx) await lateWritten;
        let otherWrote!: () => void;
        const otherWritten = new Promise<void>((resolve) => (otherWrote = resolve));
        let releaseOther!: () => void;
        const otherCommit = new Promise<void>((resolve) => (releaseOther = resolve));
        const otherTx = openTransaction(second, otherWrote, otherCommit);
        await otherWritten;
        const lateTx2 = lateTx ?? openTransaction(first, lateWrote, late);
        if (!lateTx) await lateWritten;
        releaseOther();
        await otherTx;
        expect(await committedElsewhere(second)).toBe(true); // the later id is committed, the earlier one is not
        if (earlierWritesFirst) {
          // its position comes after the open transaction's: the reader must not get it yet
          const before = seen.length;
          await new Promise((resolve) => setTimeout(resolve, 200));
          expect(seen.slice(before)).not.toContain(second);
        } else {
          // numbered before the open transaction: the reader gets it, and with it the later id,
          // while the earlier id is still to commit (the trap an id cursor falls into)
          await eventually(async () => expect(seen).toContain(second), 10_000);
          expect(seen).not.toContain(first);
        }
        releaseLate();
        await lateTx2;
        await eventually(async () => {
          expect(seen).toContain(first);
          expect(seen).toContain(second);
        }, 10_000);
      }
    } finally {
      polling = false;
      await poller;
    }
    const ours = scenarios.flatMap((s) => [s.first, s.second]);
    const read = seen.filter((id) => ours.includes(id));
    expect(new Set(read).size).toBe(read.length); // each once
    expect(read.sort()).toEqual([...ours].sort());
  });

  it('reads the events of one transaction in the order they were written', async () => {
    const before = (await readAll(start)).at(-1)?.id ?? start;
    const written = Array.from({ length: 50 }, (_, n) => ({ type: 'employee.created', data: { n } }));
    const ids = await server.booted.db.scoped(tenantId, (tx) => enqueueEvents(tx, written));
    let read: FeedEvent[] = [];
    await eventually(async () => {
      read = await readAll(before);
      expect(read.map((e) => e.data)).toEqual(written.map((e) => e.data));
    }, 10_000);
    expect(read.map((e) => e.id)).toEqual(ids);
    const [row] = await server.booted.db.admin.scoped(tenantId, (tx) =>
      tx.query<{ positions: number }>(
        `SELECT count(DISTINCT txid)::int AS positions FROM outbox_events WHERE tenant_id = $1 AND id = ANY($2::uuid[])`,
        [tenantId, ids],
      ),
    );
    expect(row).toEqual({ positions: 1 });
  });
});
