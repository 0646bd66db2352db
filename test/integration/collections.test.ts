/**
 * Every collection, every operation and its error paths, over HTTP: create, read, list, replace,
 * patch and delete with ETags, If-Match, Idempotency-Key, validation pointers, scopes, references,
 * uniqueness and filters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { apiClient, type ApiClient } from '../helpers/api-client.ts';
import { signWithTenantKey, claimsOf } from '../helpers/tokens.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

interface Fixtures {
  readonly orgUnit: string;
  readonly employee: string;
  readonly activity: string;
}

let counter = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter += 1)}`;

/** A valid body, a one-field change, and an invalid value with the pointer it must be reported at. */
const SPECS: Record<
  string,
  { body: (f: Fixtures) => Record<string, unknown>; change: Record<string, unknown>; invalid: [string, unknown] }
> = {
  'org-units': {
    body: (f) => ({ code: unique('OU'), name: 'Night shift', parent_id: f.orgUnit }),
    change: { name: 'Late shift' },
    invalid: ['parent_id', 'not-a-uuid'],
  },
  employees: {
    body: (f) => ({
      employee_number: unique('E'),
      first_name: 'Eve',
      last_name: 'Example',
      email: 'eve@example.com',
      hire_date: '2024-02-29',
      termination_date: null,
      org_unit_id: f.orgUnit,
    }),
    change: { last_name: 'Sample' },
    invalid: ['hire_date', '2024-02-30'],
  },
  contracts: {
    body: (f) => ({ employee_id: f.employee, org_unit_id: f.orgUnit, start_date: '2025-01-01', end_date: null, weekly_hours: 38 }),
    change: { weekly_hours: 30.5 },
    invalid: ['weekly_hours', 169],
  },
  'activity-definitions': {
    body: () => ({ code: unique('ACT'), name: 'On call', kind: 'work' }),
    change: { kind: 'other' },
    invalid: ['kind', 'holiday'],
  },
  clockings: {
    body: (f) => ({
      employee_id: f.employee,
      timestamp: '2026-11-20T08:00:00+01:00',
      direction: 'in',
      activity_definition_id: f.activity,
      source_device: 'terminal-9',
    }),
    change: { direction: 'out' },
    invalid: ['timestamp', '2026-11-20 08:00'],
  },
  absences: {
    body: (f) => ({
      employee_id: f.employee,
      activity_definition_id: f.activity,
      start_date: '2026-12-01',
      end_date: '2026-12-03',
      start_half_day: false,
      end_half_day: true,
      status: 'requested',
    }),
    change: { status: 'approved' },
    invalid: ['status', 'maybe'],
  },
};

describe.each(testDatabaseKinds())('collections on %s', (kind) => {
  let server: TestServer;
  let acme: ApiClient;
  let fixtures: Fixtures;

  beforeAll(async () => {
    server = await startTestServer(kind);
    acme = await apiClient(server, 'sandbox', 'acme');
    fixtures = {
      orgUnit: (await acme.first('/org-units')).id,
      employee: (await acme.first('/employees')).id,
      activity: (await acme.first('/activity-definitions')).id,
    };
  });
  afterAll(async () => {
    await server?.close();
  });

  describe.each(Object.keys(SPECS))('%s', (path) => {
    const spec = SPECS[path] as (typeof SPECS)[string];

    it('creates, reads, lists, replaces, patches and deletes, with ETags and If-Match', async () => {
      const body = spec.body(fixtures);
      const created = await acme.request<Record<string, unknown> & { id: string }>('POST', `/${path}`, { body });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ ...body, version: 1 });
      expect(created.headers.get('etag')).toBe('"1"');
      expect(created.headers.get('location')).toBe(`${acme.credential.api_base}/${path}/${created.body.id}`);
      const id = created.body.id;

      const read = await acme.request('GET', `/${path}/${id}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(created.body);

      const since = String(created.body.updated_at);
      const listed = await acme.request<{ data: { id: string }[] }>('GET', `/${path}?updated_since=${encodeURIComponent(since)}&limit=200`);
      expect(listed.status).toBe(200);
      expect(listed.body.data.map((r) => r.id)).toContain(id);

      expect((await acme.request('PUT', `/${path}/${id}`, { body })).status).toBe(428);
      expect((await acme.request('PUT', `/${path}/${id}`, { body, headers: { 'if-match': '"7"' } })).status).toBe(412);
      const replaced = await acme.request('PUT', `/${path}/${id}`, { body: { ...body, ...spec.change }, headers: { 'if-match': '"1"' } });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ ...spec.change, version: 2 });
      expect(replaced.headers.get('etag')).toBe('"2"');

      const stalePatch = await acme.request('PATCH', `/${path}/${id}`, { body: spec.change, headers: { 'if-match': '"1"' } });
      expect(stalePatch.status).toBe(412);
      expect(stalePatch.body).toMatchObject({ type: 'https://tenant-connect.dev/problems/precondition-failed' });
      const patched = await acme.request('PATCH', `/${path}/${id}`, {
        // a field the change above did not touch, sent with its current value
        body: Object.fromEntries(
          Object.entries(body)
            .filter(([name]) => !(name in spec.change))
            .slice(0, 1),
        ),
        headers: { 'if-match': '"2"', 'content-type': 'application/merge-patch+json' },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ ...spec.change, version: 3 });

      expect((await acme.request('DELETE', `/${path}/${id}`)).status).toBe(428);
      expect((await acme.request('DELETE', `/${path}/${id}`, { headers: { 'if-match': '"2"' } })).status).toBe(412);
      const deleted = await acme.request('DELETE', `/${path}/${id}`, { headers: { 'if-match': '"3"' } });
      expect(deleted.status).toBe(204);
      expect((await acme.request('GET', `/${path}/${id}`)).status).toBe(404);
      expect((await acme.request('DELETE', `/${path}/${id}`, { headers: { 'if-match': '*' } })).status).toBe(404);
    });

    it('reports invalid, missing and unknown fields as 422 with JSON pointers', async () => {
      const [field, value] = spec.invalid;
      const body = spec.body(fixtures);
      const invalid = await acme.request<{ errors: { pointer: string }[] }>('POST', `/${path}`, { body: { ...body, [field]: value } });
      expect(invalid.status).toBe(422);
      expect(invalid.body.errors.map((e) => e.pointer)).toEqual([`/${field}`]);

      const required = Object.keys(body)[0] as string;
      const { [required]: _omitted, ...missing } = body;
      const incomplete = await acme.request<{ errors: { pointer: string; detail: string }[] }>('POST', `/${path}`, { body: missing });
      expect(incomplete.status).toBe(422);
      expect(incomplete.body.errors).toContainEqual({ pointer: `/${required}`, detail: 'is required' });

      const unknown = await acme.request<{ errors: { pointer: string; detail: string }[] }>('POST', `/${path}`, {
        body: { ...body, colour: 'blue' },
      });
      expect(unknown.status).toBe(422);
      expect(unknown.body.errors).toEqual([{ pointer: '/colour', detail: 'is not a known property' }]);

      const emptyPatch = await acme.request('PATCH', `/${path}/00000000-0000-4000-8000-000000000000`, {
        body: {},
        headers: { 'if-match': '"1"' },
      });
      expect(emptyPatch.status).toBe(422);
    });

    it('replays a POST with the same Idempotency-Key and refuses the key for another body', async () => {
      const key = unique('key');
      const body = spec.body(fixtures);
      const first = await acme.request<{ id: string }>('POST', `/${path}`, { body, headers: { 'idempotency-key': key } });
      expect(first.status).toBe(201);
      const retry = await acme.request<{ id: string }>('POST', `/${path}`, { body, headers: { 'idempotency-key': key } });
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.headers.get('location')).toBe(first.headers.get('location'));
      const other = await acme.request('POST', `/${path}`, { body: { ...body, ...spec.change }, headers: { 'idempotency-key': key } });
      expect(other.status).toBe(422);
      expect(other.body).toMatchObject({ type: 'https://tenant-connect.dev/problems/idempotency-key-reused' });
    });

    it('needs the collection’s write scope to write and its read scope to read', async () => {
      const readOnly = await signWithTenantKey(server, 'sandbox', 'acme', { ...claimsOf(acme.token), scope: `${path}:read` });
      const write = await acme.request('POST', `/${path}`, { body: spec.body(fixtures), token: readOnly });
      expect(write.status).toBe(403);
      expect(write.headers.get('www-authenticate')).toContain(`scope="${path}:write"`);
      const writeOnly = await signWithTenantKey(server, 'sandbox', 'acme', { ...claimsOf(acme.token), scope: `${path}:write` });
      expect((await acme.request('GET', `/${path}`, { token: writeOnly })).status).toBe(403);
      expect((await acme.request('GET', `/${path}`, { token: readOnly })).status).toBe(200);
    });
  });

  describe('references, uniqueness and rules', () => {
    it('refuses a reference to nothing with 422 at its pointer', async () => {
      const response = await acme.request('POST', '/contracts', {
        body: { ...SPECS.contracts?.body(fixtures), employee_id: '00000000-0000-4000-8000-000000000000' },
      });
      expect(response.status).toBe(422);
      expect(response.body).toEqual({
        type: 'https://tenant-connect.dev/problems/invalid-reference',
        title: 'Invalid Reference',
        status: 422,
        detail: 'employee_id does not refer to an existing employee',
        errors: [{ pointer: '/employee_id', detail: 'employee_id does not refer to an existing employee' }],
      });
    });

    it('answers a taken unique value with 409 naming the field', async () => {
      const existing = await acme.first('/employees');
      const response = await acme.request('POST', '/employees', {
        body: { ...SPECS.employees?.body(fixtures), employee_number: existing.employee_number },
      });
      expect(response.status).toBe(409);
      expect(response.body).toMatchObject({
        type: 'https://tenant-connect.dev/problems/conflict',
        errors: [{ pointer: '/employee_number' }],
      });
    });

    it('allows the same unique value in another tenant', async () => {
      const globex = await apiClient(server, 'sandbox', 'globex');
      const code = unique('SHARED');
      expect((await acme.request('POST', '/activity-definitions', { body: { code, name: 'In acme', kind: 'work' } })).status).toBe(201);
      const response = await globex.request('POST', '/activity-definitions', {
        body: { code, name: 'Same code, other tenant', kind: 'work' },
      });
      expect(response.status).toBe(201);
    });

    it('answers deleting a referenced row with 409 naming the reference', async () => {
      const employee = await acme.first('/employees');
      const response = await acme.request('DELETE', `/employees/${employee.id}`, { headers: { 'if-match': `"${employee.version}"` } });
      expect(response.status).toBe(409);
      expect(response.body).toMatchObject({
        type: 'https://tenant-connect.dev/problems/still-referenced',
        referenced_by: { field: 'employee_id' },
      });
      expect((await acme.request('GET', `/employees/${employee.id}`)).status).toBe(200);
    });

    it('checks rules across fields, also on the merged result of a PATCH', async () => {
      const bad = await acme.request('POST', '/absences', {
        body: { ...SPECS.absences?.body(fixtures), start_date: '2026-12-05', end_date: '2026-12-01' },
      });
      expect(bad.status).toBe(422);
      expect(bad.body).toMatchObject({ errors: [{ pointer: '/end_date', detail: 'end_date must not be before start_date' }] });
      const created = await acme.request<{ id: string }>('POST', '/absences', { body: SPECS.absences?.body(fixtures) });
      const patched = await acme.request('PATCH', `/absences/${created.body.id}`, {
        body: { start_date: '2027-01-01' },
        headers: { 'if-match': '"1"' },
      });
      expect(patched.status).toBe(422);
    });

    it('keeps a clocking’s timestamp at the offset it was sent with', async () => {
      const created = await acme.request('POST', '/clockings', {
        body: { ...SPECS.clockings?.body(fixtures), timestamp: '2026-11-20T23:30:00-05:30' },
      });
      expect(created.status).toBe(201);
      expect(created.body.timestamp).toBe('2026-11-20T23:30:00-05:30');
    });

    it('clears a nullable field with null in a PATCH and refuses null for a required one', async () => {
      const employee = await acme.first('/employees');
      const cleared = await acme.request('PATCH', `/employees/${employee.id}`, {
        body: { email: null },
        headers: { 'if-match': `"${employee.version}"` },
      });
      expect(cleared.status).toBe(200);
      expect(cleared.body.email).toBeNull();
      const refused = await acme.request('PATCH', `/employees/${employee.id}`, { body: { last_name: null }, headers: { 'if-match': '*' } });
      expect(refused.status).toBe(422);
    });
  });

  describe('filters and sorting', () => {
    it('filters clockings by employee and time range', async () => {
      const response = await acme.request<{ data: { employee_id: string; timestamp: string }[] }>(
        'GET',
        `/clockings?employee_id=${fixtures.employee}&from=${encodeURIComponent('2000-01-01T00:00:00Z')}&to=${encodeURIComponent('2100-01-01T00:00:00Z')}&limit=200`,
      );
      expect(response.status).toBe(200);
      expect(response.body.data.length).toBeGreaterThan(0);
      expect(response.body.data.every((c) => c.employee_id === fixtures.employee)).toBe(true);
      const none = await acme.request<{ data: unknown[] }>(
        'GET',
        `/clockings?employee_id=${fixtures.employee}&to=${encodeURIComponent('2000-01-01T00:00:00Z')}`,
      );
      expect(none.body.data).toEqual([]);
    });

    it('filters org units by parent, null meaning the roots', async () => {
      const roots = await acme.request<{ data: { parent_id: string | null; id: string }[] }>('GET', '/org-units?parent_id=null');
      expect(roots.body.data).toHaveLength(1);
      const children = await acme.request<{ data: { parent_id: string | null }[] }>(
        'GET',
        `/org-units?parent_id=${roots.body.data[0]?.id}`,
      );
      expect(children.body.data.length).toBeGreaterThan(0);
      expect(children.body.data.every((u) => u.parent_id === roots.body.data[0]?.id)).toBe(true);
    });

    it('filters contracts and absences by overlapping dates', async () => {
      const contracts = await acme.request<{ data: { start_date: string; end_date: string | null }[] }>(
        'GET',
        '/contracts?from=2024-01-01&to=2024-12-31&limit=200',
      );
      expect(contracts.body.data.every((c) => c.start_date <= '2024-12-31' && (c.end_date === null || c.end_date >= '2024-01-01'))).toBe(
        true,
      );
      expect((await acme.request('GET', '/absences?from=2026-01-01&status=approved')).status).toBe(200);
    });

    it('sorts by the allowed fields in both directions, with cursors that follow the sort', async () => {
      const names: string[] = [];
      let url: string | null = '/employees?sort=-last_name&limit=15';
      while (url) {
        const page: { status: number; body: { data: { last_name: string }[]; next: string | null } } = await acme.request('GET', url);
        expect(page.status).toBe(200);
        names.push(...page.body.data.map((e) => e.last_name));
        url = page.body.next ? page.body.next.slice(acme.credential.api_base.length) : null;
      }
      expect(names.length).toBeGreaterThanOrEqual(50);
      expect([...names].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))).toEqual(names);
    });
  });
});
