/**
 * Deletions that sync: a deleted row leaves a tombstone, and `updated_since=…&include_deleted=true`
 * answers changed rows and tombstones in one (updated_at, id) order, paged by the same cursor; an
 * updated_since older than TOMBSTONE_RETENTION_DAYS answers 410. Without include_deleted nothing
 * changes, and a deleted id stays 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { apiClient, type ApiClient } from '../helpers/api-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

interface Item {
  id: string;
  deleted?: true;
  deleted_at?: string;
  updated_at?: string;
  code?: string;
}
interface Page {
  data: Item[];
  next: string | null;
}

const DAY_MS = 86_400_000;

describe.each(testDatabaseKinds())('include_deleted syncs on %s', (kind) => {
  let server: TestServer;
  let api: ApiClient;
  let since: string;
  let kept: Item;
  let changed: Item;
  let gone: Item;
  let goneAfterChange: Item;

  const create = async (code: string) => (await api.request<Item>('POST', '/org-units', { body: { code, name: code } })).body;
  const remove = async (id: string) => {
    const current = await api.request<{ version: number }>('GET', `/org-units/${id}`);
    const response = await api.request('DELETE', `/org-units/${id}`, { headers: { 'if-match': `"${current.body.version}"` } });
    expect(response.status).toBe(204);
  };

  beforeAll(async () => {
    server = await startTestServer(kind, { env: { TOMBSTONE_RETENTION_DAYS: '7' } });
    api = await apiClient(server, 'sandbox', 'acme');
    // a timestamp the database wrote, so the app's and the database's clocks cannot disagree
    since = (await create('SYNC-BEFORE')).updated_at as string;
    since = new Date(Date.parse(since) + 1).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    kept = await create('SYNC-KEPT');
    changed = await create('SYNC-CHANGED');
    gone = await create('SYNC-GONE');
    goneAfterChange = await create('SYNC-GONE-2');
    await remove(gone.id);
    const patched = await api.request<Item>('PATCH', `/org-units/${changed.id}`, {
      body: { name: 'changed' },
      headers: { 'if-match': '"1"', 'content-type': 'application/merge-patch+json' },
    });
    expect(patched.status).toBe(200);
    changed = patched.body;
    await remove(goneAfterChange.id);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('answers changed rows and tombstones in one updated_at order', async () => {
    const response = await api.request<Page>('GET', `/org-units?updated_since=${encodeURIComponent(since)}&include_deleted=true`);
    expect(response.status).toBe(200);
    const tombstones = await server.booted.db.admin.query<{ id: string; deleted_at: string }>(
      `SELECT id, to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS deleted_at FROM tombstones
        WHERE collection = 'org_units' AND id = ANY($1::uuid[]) ORDER BY deleted_at`,
      [[gone.id, goneAfterChange.id]],
    );
    const deletedAt = new Map(tombstones.map((t) => [t.id, t.deleted_at]));
    expect(response.body).toEqual({
      data: [
        { ...kept },
        { id: gone.id, deleted: true, deleted_at: deletedAt.get(gone.id) },
        { ...changed },
        { id: goneAfterChange.id, deleted: true, deleted_at: deletedAt.get(goneAfterChange.id) },
      ],
      next: null,
    });
  });

  it('keeps the last version in the tombstone', async () => {
    const [row] = await server.booted.db.admin.query<{ version: number }>(`SELECT version FROM tombstones WHERE id = $1`, [gone.id]);
    expect(row).toEqual({ version: 1 });
  });

  it('pages the merged order with the same cursor, one item a page', async () => {
    const seen: string[] = [];
    let url: string | null = `${api.credential.api_base}/org-units?updated_since=${encodeURIComponent(since)}&include_deleted=true&limit=1`;
    for (let pages = 0; url && pages < 10; pages += 1) {
      const response = await server.fetch(url, { headers: { authorization: `Bearer ${api.token}` } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Page;
      seen.push(...body.data.map((item) => `${item.deleted ? '-' : '+'}${item.id}`));
      url = body.next;
    }
    expect(seen).toEqual([`+${kept.id}`, `-${gone.id}`, `+${changed.id}`, `-${goneAfterChange.id}`]);
  });

  it('changes nothing without include_deleted', async () => {
    const response = await api.request<Page>('GET', `/org-units?updated_since=${encodeURIComponent(since)}&sort=updated_at`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: [kept, changed], next: null });
  });

  it('still answers 404 for a deleted id', async () => {
    const response = await api.request('GET', `/org-units/${gone.id}`);
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      type: 'https://tenant-connect.dev/problems/not-found',
      title: 'Not Found',
      status: 404,
      detail: 'No org unit with this id.',
    });
  });

  it('answers 410 when updated_since is older than the tombstones kept', async () => {
    const old = new Date(Date.now() - 8 * DAY_MS).toISOString();
    const response = await api.request('GET', `/org-units?updated_since=${encodeURIComponent(old)}&include_deleted=true`);
    expect(response.status).toBe(410);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = response.body as { detail: string; errors: { pointer: string; detail: string }[] };
    expect(body).toMatchObject({ type: 'https://tenant-connect.dev/problems/resync-required', title: 'Full Resync Required', status: 410 });
    expect(body.detail).toMatch(
      /^A full resync is needed: deletions are kept 7 days, so updated_since must be at or after \d{4}-\d\d-\d\dT[\d:.]+Z\. Load the whole collection again without updated_since, then continue from the time that load started\.$/,
    );
    expect(body.errors).toEqual([{ pointer: '/query/updated_since', detail: expect.stringMatching(/^deletions are kept 7 days/) }]);
    // inside the window, and without include_deleted, the same instant is fine
    const recent = new Date(Date.now() - 6 * DAY_MS).toISOString();
    expect((await api.request('GET', `/org-units?updated_since=${encodeURIComponent(recent)}&include_deleted=true`)).status).toBe(200);
    expect((await api.request('GET', `/org-units?updated_since=${encodeURIComponent(old)}`)).status).toBe(200);
  });

  it('refuses include_deleted without updated_since, or with another sort or filter', async () => {
    const cases: [string, string, string][] = [
      ['include_deleted=true', '/query/updated_since', 'include_deleted=true needs updated_since (a full load needs no tombstones)'],
      [
        `include_deleted=true&updated_since=${encodeURIComponent(since)}&sort=id`,
        '/query/sort',
        'with include_deleted=true the list is in updated_at order: leave sort out or send sort=updated_at',
      ],
      [
        `include_deleted=true&updated_since=${encodeURIComponent(since)}&parent_id=null`,
        '/query/parent_id',
        'include_deleted=true combines only with updated_since, not parent_id',
      ],
    ];
    for (const [query, pointer, detail] of cases) {
      const response = await api.request('GET', `/org-units?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body).toEqual({
        type: 'https://tenant-connect.dev/problems/invalid-query',
        title: 'Invalid Query Parameters',
        status: 400,
        detail,
        errors: [{ pointer, detail }],
      });
    }
  });

  it("never shows another tenant's tombstones", async () => {
    const globex = await apiClient(server, 'sandbox', 'globex');
    const response = await globex.request<Page>('GET', `/org-units?updated_since=${encodeURIComponent(since)}&include_deleted=true`);
    expect(response.status).toBe(200);
    expect(response.body.data.filter((item) => item.deleted)).toEqual([]);
  });
});
