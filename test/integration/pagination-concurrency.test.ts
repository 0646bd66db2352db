/**
 * Keyset pagination under concurrent writes: a client walking GET /clockings by following `next`
 * while the same tenant keeps creating clockings (single POSTs and batches) sees every clocking
 * that existed before it started exactly once, never sees an id twice, sees rows in the order
 * asked for, and reaches the end. A filtered walk keeps its filter in every `next` link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';

interface Clocking {
  id: string;
  timestamp: string;
  updated_at: string;
}
interface Page<T> {
  data: T[];
  next: string | null;
}

const LIMIT = 37;
const SINGLE_POSTS = 30;
const BATCHES = 12;
const BATCH_SIZE = 15;
const OFFSETS = [0, 60, -300, 330, 840, -840];

/** A random instant around the seeded month, written at a random terminal offset (RFC 3339). */
function randomTimestamp(random: () => number): string {
  const instant = Date.now() - 35 * 86_400_000 + Math.floor(random() * 37 * 86_400_000);
  const offset = OFFSETS[Math.floor(random() * OFFSETS.length)] ?? 0;
  const local = new Date(instant + offset * 60_000).toISOString();
  if (offset === 0) return local;
  const abs = Math.abs(offset);
  const sign = offset < 0 ? '-' : '+';
  return `${local.slice(0, -1)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Deterministic, so a failure replays the same writes. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 4_294_967_296;
  };
}

describe.each(testDatabaseKinds())('pagination under concurrent inserts on %s', (kind) => {
  let server: TestServer;
  let token: string;
  let tenantId: string;
  let employeeIds: string[];
  const api = () => server.credential('sandbox', 'acme').api_base;
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    server = await startTestServer(kind);
    token = await accessToken(server, server.credential('sandbox', 'acme'));
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    tenantId = tenant?.id ?? '';
    const employees = (await (await server.fetch(`${api()}/employees?limit=200`, { headers: auth() })).json()) as Page<{ id: string }>;
    employeeIds = employees.data.map((e) => e.id);
    expect(employeeIds).toHaveLength(50);
  });
  afterAll(async () => {
    await server?.close();
  });

  /** Every clocking id of acme right now, read past the API (the owner's connection). */
  const clockingIdsInDatabase = async () =>
    (await server.booted.db.admin.query<{ id: string }>('SELECT id::text AS id FROM clockings WHERE tenant_id = $1', [tenantId])).map(
      (r) => r.id,
    );

  /** Follows `next` from `first` to the end, checking every link on the way. */
  async function walk<T extends { id: string }>(first: string, maxPages: number): Promise<{ rows: T[]; pages: number }> {
    const rows: T[] = [];
    const expectedParams = new URL(first).searchParams;
    let url: string | null = first;
    let pages = 0;
    while (url !== null) {
      expect(pages, `walk from ${first} does not end`).toBeLessThan(maxPages);
      const response = await server.fetch(url, { headers: auth() });
      expect(response.status, url).toBe(200);
      const page = (await response.json()) as Page<T>;
      rows.push(...page.data);
      pages += 1;
      if (page.next === null) {
        expect(response.headers.get('link')).toBeNull();
      } else {
        expect(page.data.length).toBe(Number(expectedParams.get('limit')));
        expect(response.headers.get('link')).toBe(`<${page.next}>; rel="next"`);
        const next = new URL(page.next);
        expect(`${next.origin}${next.pathname}`).toBe(`${new URL(first).origin}${new URL(first).pathname}`);
        // every parameter of the first request survives, unchanged; only the cursor is added
        for (const [name, value] of expectedParams) expect(next.searchParams.getAll(name), name).toEqual([value]);
        expect([...next.searchParams.keys()].sort()).toEqual([...new Set([...expectedParams.keys(), 'cursor'])].sort());
      }
      url = page.next;
    }
    return { rows, pages };
  }

  /** Creates clockings until told to stop or done: single POSTs and batches, interleaved. */
  function startWriters(seed: number, walkDone: () => boolean) {
    const random = seededRandom(seed);
    const item = () => ({
      employee_id: employeeIds[Math.floor(random() * employeeIds.length)],
      timestamp: randomTimestamp(random),
      direction: random() < 0.5 ? 'in' : 'out',
      source_device: 'pagination-test',
    });
    const created: string[] = [];
    let writesDuringWalk = 0;
    const headers = { ...auth(), 'content-type': 'application/json' };
    const singles = (async () => {
      for (let i = 0; i < SINGLE_POSTS && !walkDone(); i += 1) {
        const response = await server.fetch(`${api()}/clockings`, { method: 'POST', headers, body: JSON.stringify(item()) });
        expect(response.status).toBe(201);
        created.push(((await response.json()) as { id: string }).id);
        if (!walkDone()) writesDuringWalk += 1;
      }
    })();
    const batches = (async () => {
      for (let i = 0; i < BATCHES && !walkDone(); i += 1) {
        const items = Array.from({ length: BATCH_SIZE }, item);
        const response = await server.fetch(`${api()}/clockings/batch`, { method: 'POST', headers, body: JSON.stringify({ items }) });
        expect(response.status).toBe(201);
        created.push(...((await response.json()) as { ids: string[] }).ids);
        if (!walkDone()) writesDuringWalk += 1;
      }
    })();
    return {
      done: Promise.all([singles, batches]),
      created,
      writesDuringWalk: () => writesDuringWalk,
    };
  }

  const instant = (c: Clocking) => Date.parse(c.timestamp);
  const ORDER: Record<string, (a: Clocking, b: Clocking) => number> = {
    id: (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    '-timestamp': (a, b) => instant(b) - instant(a) || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0),
    updated_at: (a, b) => (a.updated_at < b.updated_at ? -1 : a.updated_at > b.updated_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  };

  it.each([
    ['id', 1],
    ['-timestamp', 2],
    ['updated_at', 3],
  ])('walks ?limit=37&sort=%s seeing every earlier clocking exactly once while clockings are created', async (sort, seed) => {
    const before = await clockingIdsInDatabase();
    expect(before.length).toBeGreaterThan(1000); // the seeded month, many pages at 37
    const maxInserted = SINGLE_POSTS + BATCHES * BATCH_SIZE;
    const maxPages = Math.ceil((before.length + maxInserted) / LIMIT) + 2;

    let walkDone = false;
    const writers = startWriters(seed, () => walkDone);
    const first = `${api()}/clockings?limit=${LIMIT}${sort === 'id' ? '' : `&sort=${encodeURIComponent(sort)}`}`;
    const walked = await walk<Clocking>(first, maxPages).finally(() => {
      walkDone = true;
    });
    await writers.done;

    // the writes really overlapped the walk
    expect(writers.writesDuringWalk()).toBeGreaterThan(0);
    expect(writers.created.length).toBeGreaterThan(0);

    const seen = walked.rows.map((r) => r.id);
    expect(seen.length - new Set(seen).size, 'ids seen twice').toBe(0);
    const seenSet = new Set(seen);
    expect(
      before.filter((id) => !seenSet.has(id)),
      'pre-existing clockings missed',
    ).toEqual([]);
    // nothing but acme's own clockings, old or new
    const known = new Set([...before, ...writers.created]);
    expect(seen.filter((id) => !known.has(id))).toEqual([]);
    // in the order asked for, across page boundaries
    const compare = ORDER[sort];
    if (!compare) throw new Error(`no order for ${sort}`);
    for (let i = 1; i < walked.rows.length; i += 1) {
      const [a, b] = [walked.rows[i - 1] as Clocking, walked.rows[i] as Clocking];
      expect(compare(a, b), `rows ${i - 1} and ${i} out of ${sort} order: ${JSON.stringify([a, b])}`).toBeLessThan(0);
    }

    // once the writers are done, a quiet walk sees exactly what the database holds
    const after = await clockingIdsInDatabase();
    expect(after.length).toBe(before.length + writers.created.length);
    const quiet = await walk<Clocking>(first.replace(`limit=${LIMIT}`, 'limit=200'), maxPages);
    expect(quiet.rows.map((r) => r.id).sort()).toEqual([...after].sort());
  });

  it('keeps updated_since (with an encoded +hh:mm offset), sort and limit in every next link of an employees walk', async () => {
    const all = (await (await server.fetch(`${api()}/employees?limit=200`, { headers: auth() })).json()) as Page<{
      id: string;
      version: number;
      updated_at: string;
    }>;
    // change every third employee, so the filter selects some but not all
    const changed = all.data.filter((_, i) => i % 3 === 0);
    const results: { id: string; updated_at: string }[] = [];
    for (const employee of changed) {
      const response = await server.fetch(`${api()}/employees/${employee.id}`, {
        method: 'PATCH',
        headers: { ...auth(), 'content-type': 'application/merge-patch+json', 'if-match': `"${employee.version}"` },
        body: JSON.stringify({ email: `changed.${employee.id.slice(-6)}@acme.example` }),
      });
      expect(response.status).toBe(200);
      results.push((await response.json()) as { id: string; updated_at: string });
    }
    const since = results.map((r) => r.updated_at).sort()[0] ?? '';
    // the same instant written at +01:00: the "+" must survive into the next links
    const sinceMs = Date.parse(since);
    const micros = since.slice(19, -1); // ".ffffff"
    const sinceAtOffset = `${new Date(sinceMs + 3_600_000).toISOString().slice(0, 19)}${micros}+01:00`;
    expect(Date.parse(sinceAtOffset)).toBe(sinceMs);

    const expected = all.data
      .map((e) => ({ ...e, updated_at: results.find((r) => r.id === e.id)?.updated_at ?? e.updated_at }))
      .filter((e) => e.updated_at >= since)
      .map((e) => e.id);
    expect(expected.length).toBeGreaterThanOrEqual(changed.length);
    expect(expected.length).toBeLessThan(all.data.length);

    for (const sort of ['id', '-employee_number', 'updated_at']) {
      const first = `${api()}/employees?${new URLSearchParams({ updated_since: sinceAtOffset, limit: '2', sort })}`;
      const walked = await walk<{ id: string }>(first, expected.length);
      const seen = walked.rows.map((r) => r.id);
      expect(seen.length, sort).toBe(new Set(seen).size);
      expect([...seen].sort(), sort).toEqual([...expected].sort());
      expect(walked.pages, sort).toBe(Math.ceil(expected.length / 2));
    }
  });
});
