import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { inlineParameters, quoteLiteral } from '../../src/db/database.ts';

describe('inlineParameters', () => {
  it('renders plain values as literals, $10 not confused with $1', () => {
    const params = [null, 5, true, 'a', 'b', 'c', 'd', 'e', 'f', 'ten'];
    expect(inlineParameters('SELECT $1, $2, $3, $4, $10', params)).toBe("SELECT NULL, 5, TRUE, 'a', 'ten'");
  });

  it('escapes quotes and backslashes so a value can never end its literal', () => {
    expect(inlineParameters('SELECT $1', ["x'; DROP TABLE employees; --"])).toBe("SELECT 'x''; DROP TABLE employees; --'");
    // with a backslash, pg writes an E'' literal and doubles both the backslash and the quote
    expect(inlineParameters('SELECT $1', ["a\\' OR 1=1 --"])).toBe("SELECT  E'a\\\\'' OR 1=1 --'");
  });

  it('refuses what it cannot render safely', () => {
    expect(() => inlineParameters('SELECT $1', [Number.NaN])).toThrow(TypeError);
    expect(() => inlineParameters('SELECT $1', ['a\u0000b'])).toThrow(TypeError);
    expect(() => inlineParameters('SELECT $1', [{}])).toThrow(TypeError);
    expect(() => inlineParameters('SELECT $1', [['a']])).toThrow(TypeError);
  });

  it("quotes every string exactly as pg's escapeLiteral does", () => {
    const tricky = fc.string({ unit: fc.constantFrom("'", '\\', 'a', '"', 'E', ' ', 'é', '\n'), maxLength: 64 });
    fc.assert(fc.property(fc.oneof(tricky, fc.string({ unit: 'binary' })), (value) => quoteLiteral(value) === pg.escapeLiteral(value)));
  });
});
