/** data-growth's rows: how they are spread over tenants and what each COPY line holds. */
import { describe, expect, it } from 'vitest';
import {
  ACTIVITY_EVERY,
  CLOCKING_COLUMNS,
  clockingLines,
  clockingsPerTenant,
  CORRECTED_EVERY,
  employeesFor,
  sequentialUuidv7,
} from '../../bench/growth-data.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('clockingsPerTenant', () => {
  it('gives the largest tenant exactly 2 million of 10 million over 1,000 tenants, the rest evenly', () => {
    const counts = clockingsPerTenant(10_000_000, 1_000, 2_000_000);
    expect(counts).toHaveLength(1_000);
    expect(counts[0]).toBe(2_000_000);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000_000);
    // 8,000,000 over 999: 8,008 each and 8 of them one more
    expect(new Set(counts.slice(1))).toEqual(new Set([8_008, 8_009]));
    expect(counts.filter((c) => c === 8_009)).toHaveLength(8_000_000 % 999);
  });

  it('scales down for --quick the same way', () => {
    const counts = clockingsPerTenant(100_000, 100, 20_000);
    expect(counts[0]).toBe(20_000);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(100_000);
    expect(Math.max(...counts.slice(1)) - Math.min(...counts.slice(1))).toBeLessThanOrEqual(1);
  });

  it('refuses sizes that cannot hold', () => {
    expect(() => clockingsPerTenant(100, 10, 200)).toThrow(RangeError);
    expect(() => clockingsPerTenant(1_000, 10, 10)).toThrow(/smaller than the others/);
    expect(() => clockingsPerTenant(100, 0, 10)).toThrow(RangeError);
    expect(() => clockingsPerTenant(100, 1, 50)).toThrow(RangeError);
    expect(clockingsPerTenant(100, 1, 100)).toEqual([100]);
  });
});

describe('sequentialUuidv7', () => {
  it('is a version 7 uuid ordered by time, then by sequence', () => {
    const ids = [sequentialUuidv7(1_700_000_000_000, 5), sequentialUuidv7(1_700_000_000_000, 6), sequentialUuidv7(1_700_000_000_001, 0)];
    for (const id of ids) expect(id).toMatch(UUID);
    expect([...ids].sort()).toEqual(ids);
  });
});

describe('clockingLines', () => {
  const tenant = {
    tenantId: '00000000-0000-4000-8000-000000000001',
    count: 3_000,
    employeeIds: ['00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-0000000000e2', '00000000-0000-4000-8000-0000000000e3'],
    activityIds: ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2'],
  };
  const rows = [...clockingLines(tenant, 700)]
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split('\t').map((value, i) => [CLOCKING_COLUMNS[i], value])));

  it('writes count rows of every column, in chunks', () => {
    expect([...clockingLines(tenant, 700)]).toHaveLength(5);
    expect(rows).toHaveLength(3_000);
    for (const row of rows) expect(Object.keys(row)).toEqual([...CLOCKING_COLUMNS]);
    expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set([tenant.tenantId]));
  });

  it('gives unique ids in creation order, and clockings in time order', () => {
    const ids = rows.map((r) => r.id as string);
    expect(new Set(ids).size).toBe(3_000);
    expect([...ids].sort()).toEqual(ids);
    const occurred = rows.map((r) => Date.parse(r.occurred_at as string));
    expect(occurred.every((t, i) => i === 0 || t > (occurred[i - 1] as number))).toBe(true);
    for (const row of rows) expect(Date.parse(row.created_at as string)).toBeGreaterThan(Date.parse(row.occurred_at as string));
  });

  it('spreads them over the employees, alternating in and out, and names an activity in one of ACTIVITY_EVERY', () => {
    for (const employee of tenant.employeeIds) {
      const mine = rows.filter((r) => r.employee_id === employee);
      expect(mine).toHaveLength(1_000);
      expect(mine.slice(0, 4).map((r) => r.direction)).toEqual(['in', 'out', 'in', 'out']);
    }
    const named = rows.filter((r) => r.activity_definition_id !== '\\N');
    expect(named).toHaveLength(3_000 / ACTIVITY_EVERY);
    expect(new Set(named.map((r) => r.activity_definition_id))).toEqual(new Set(tenant.activityIds));
  });

  it('corrects one in CORRECTED_EVERY a day later, at version 2', () => {
    const corrected = rows.filter((r) => r.version === '2');
    expect(corrected).toHaveLength(3_000 / CORRECTED_EVERY);
    for (const row of corrected) expect(Date.parse(row.updated_at as string) - Date.parse(row.created_at as string)).toBe(86_400_000);
    for (const row of rows.filter((r) => r.version === '1')) expect(row.updated_at).toBe(row.created_at);
  });
});

describe('employeesFor', () => {
  it('gives a thousand clockings each, and at least one employee', () => {
    expect(employeesFor(2_000_000)).toBe(2_000);
    expect(employeesFor(8_009)).toBe(9);
    expect(employeesFor(0)).toBe(1);
  });
});
