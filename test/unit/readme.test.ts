import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS } from '../../src/config/config.ts';

const root = path.resolve(import.meta.dirname, '../..');

describe('configuration table (docs/configuration.md)', () => {
  it('lists every option with its default and description, and nothing else', () => {
    const readme = fs.readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z_]+)` +\| (.+?) +\| (.+?) +\|$/gm)].map((m) => [m[1], m[2], m[3]]);
    const expected = Object.entries(OPTIONS).map(([name, spec]) => [
      name,
      'default' in spec ? `\`${spec.default}\`` : '—',
      spec.description,
    ]);
    expect(rows).toEqual(expected);
  });
});
