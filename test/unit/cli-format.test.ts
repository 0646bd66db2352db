import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/cli/duration.ts';
import { formatCell, formatCount, formatDate, formatRecord, formatTable } from '../../src/cli/output.ts';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['3600', 3600],
    ['30s', 30],
    ['30m', 1800],
    ['12h', 43_200],
    ['7d', 604_800],
    ['2w', 1_209_600],
    ['1h30m', 5400],
    [' 7D ', 604_800],
  ])('%s → %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '-1', '1.5h', '7 days', 'd', 'h1', '1y', '99999999999999999999d'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('formats back', () => {
    expect(formatDuration(604_800)).toBe('7d');
    expect(formatDuration(5400)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(90_061)).toBe('1d1h1m1s');
  });
});

describe('formatDate and formatCell', () => {
  it('shortens ISO date-times to seconds in UTC', () => {
    expect(formatDate('2026-11-23T12:12:04.123Z')).toBe('2026-11-23T12:12:04Z');
    expect(formatDate('2026-11-23T13:12:04+01:00')).toBe('2026-11-23T12:12:04Z');
  });

  it('shows nothing as -', () => {
    expect(formatDate(null)).toBe('-');
    expect(formatCell(undefined)).toBe('-');
    expect(formatCell('')).toBe('-');
    expect(formatCell([])).toBe('-');
  });

  it('joins lists, says yes/no, keeps other text on one line', () => {
    expect(formatCell(['employees:read', 'employees:write'])).toBe('employees:read,employees:write');
    expect(formatCell(true)).toBe('yes');
    expect(formatCell('two\nlines')).toBe('two lines');
    expect(formatCell('2026-01-02T03:04:05.000Z')).toBe('2026-01-02T03:04:05Z');
    expect(formatCell(42)).toBe('42');
  });
});

describe('formatTable', () => {
  const columns = [
    { header: 'SLUG', value: (r: { slug: string; deleted: string | null }) => r.slug },
    { header: 'DELETED', value: (r: { slug: string; deleted: string | null }) => r.deleted },
  ];

  it('aligns columns under their headers, without trailing spaces', () => {
    const text = formatTable(columns, [
      { slug: 'acme', deleted: null },
      { slug: 'a-much-longer-slug', deleted: '2026-01-02T03:04:05.000Z' },
    ]);
    expect(text).toBe(['SLUG                DELETED', 'acme                -', 'a-much-longer-slug  2026-01-02T03:04:05Z', ''].join('\n'));
  });

  it('prints the header alone for no rows', () => {
    expect(formatTable(columns, [])).toBe('SLUG  DELETED\n');
  });
});

describe('formatRecord', () => {
  it('aligns labels', () => {
    expect(
      formatRecord([
        ['slug', 'acme'],
        ['deleted', null],
      ]),
    ).toBe('slug     acme\ndeleted  -\n');
  });
});

describe('formatCount', () => {
  it('puts the noun in the number the count wants', () => {
    expect(formatCount(1, 'client')).toBe('1 client');
    expect(formatCount(0, 'client')).toBe('0 clients');
    expect(formatCount(2, 'signing key')).toBe('2 signing keys');
    expect(formatCount(1, 'delivery', 'deliveries')).toBe('1 delivery');
    expect(formatCount(3, 'delivery', 'deliveries')).toBe('3 deliveries');
  });
});
