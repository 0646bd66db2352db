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

/** README.md and every docs/*.md, by path relative to the repository. */
function documentationFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs.sort()];
}

const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

/** Markdown without its code (fenced blocks and inline spans), where `[x](y)` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const headings = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').matchAll(/^#{1,6} +(.+?) *#*$/gm);
  for (const [, heading = ''] of headings) {
    const slug = heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count ? `${slug}-${count}` : slug);
  }
  return anchors;
}

/** Every relative link: [text](target) and [text](target#anchor), absolute URLs left out. */
function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? '').filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** The links of `file` (its text `markdown`) to a file that does not exist or a heading it does not have. */
function brokenLinks(file: string, markdown: string): string[] {
  const broken: string[] = [];
  for (const link of relativeLinks(markdown)) {
    const [target = '', anchor] = link.split('#');
    const resolved = target ? path.posix.join(path.posix.dirname(file), target) : file;
    if (resolved !== file && !fs.existsSync(path.join(root, resolved))) broken.push(`${file}: ${link} (no ${resolved})`);
    else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved === file ? markdown : read(resolved)).has(anchor))
      broken.push(`${file}: ${link} (no heading #${anchor} in ${resolved})`);
  }
  return broken;
}

describe('README and docs/', () => {
  it('link only to files that exist, and to headings those files have', () => {
    expect(documentationFiles().flatMap((file) => brokenLinks(file, read(file)))).toEqual([]);
  });

  it('the README links every file in docs/', () => {
    const linked = new Set(relativeLinks(read('README.md')).map((link) => link.split('#')[0]));
    const unlinked = documentationFiles().filter((file) => file !== 'README.md' && !linked.has(file));
    expect(unlinked).toEqual([]);
  });

  it('the link check finds a missing file and a missing heading, and ignores code and absolute URLs', () => {
    const markdown = [
      '# Here',
      '[ok](architecture.md#where-a-requests-tenant-comes-from) [up](../README.md#run-it) [self](#here)',
      '[gone](missing.md) [no heading](architecture.md#no-such-heading) [no self](#nowhere)',
      '`[code](missing.md)` [web](https://example.com/missing.md)',
      '```',
      '[fenced](missing.md)',
      '```',
    ].join('\n');
    expect(brokenLinks('docs/example.md', markdown)).toEqual([
      'docs/example.md: missing.md (no docs/missing.md)',
      'docs/example.md: architecture.md#no-such-heading (no heading #no-such-heading in docs/architecture.md)',
      'docs/example.md: #nowhere (no heading #nowhere in docs/example.md)',
    ]);
  });
});
