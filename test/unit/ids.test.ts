import { describe, expect, it } from 'vitest';
import { uuidv7, uuidv7s } from '../../src/db/ids.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timeOf = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);

describe('uuidv7s', () => {
  it('makes one version-7 id a time, its first 48 bits that time, as uuidv7 does', () => {
    const times = [0, 1, Date.UTC(2026, 10, 29, 14, 0, 0, 123), 2 ** 48 - 1];
    const ids = uuidv7s(times);
    expect(ids).toHaveLength(times.length);
    for (const [i, id] of ids.entries()) {
      expect(id).toMatch(V7);
      expect(timeOf(id)).toBe(times[i]);
      expect(timeOf(uuidv7(times[i]))).toBe(times[i]);
    }
  });

  it('draws different random bits for every id, and uses all four variant digits', () => {
    const ids = uuidv7s(Array.from({ length: 2000 }, () => 1_795_962_914_768));
    expect(new Set(ids).size).toBe(2000);
    expect(new Set(ids.map((id) => id.charAt(19)))).toEqual(new Set(['8', '9', 'a', 'b']));
  });

  it('answers nothing for no times', () => {
    expect(uuidv7s([])).toEqual([]);
  });
});
