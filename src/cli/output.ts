/**
 * What people read: aligned tables and key/value blocks, short ISO dates, `-` for nothing.
 * `--json` bypasses all of it and prints the API's JSON as it came.
 */

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => unknown;
}

/** 2026-11-23T12:12:04.123Z → 2026-11-23T12:12:04Z; anything else as given */
export function formatDate(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value !== 'string') return String(value);
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(value);
  if (!match) return value;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** "1 client", "2 clients", "0 deliveries": a count with its noun in the right number */
export function formatCount(count: number, singular: string, plural = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : plural}`;
}

export function formatCell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length ? value.map(formatCell).join(',') : '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') return JSON.stringify(value);
  const text = String(value);
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text) ? formatDate(text) : text.replace(/[\r\n\t]+/g, ' ');
}

export function formatTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = rows.map((row) => columns.map((c) => formatCell(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** `label  value` lines, labels aligned */
export function formatRecord(pairs: readonly (readonly [string, unknown])[]): string {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${formatCell(value)}`.trimEnd()).join('\n') + '\n';
}

export interface Writer {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Progress for long operations: on stderr, only when stderr is a terminal, erased when done. */
export interface Progress {
  update(message: string): void;
  done(): void;
}

export function createProgress(stderr: Writer): Progress {
  if (!stderr.isTTY) return { update() {}, done() {} };
  let shown = false;
  return {
    update(message) {
      stderr.write(`\r\x1b[2K${message}`);
      shown = true;
    },
    done() {
      if (shown) stderr.write('\r\x1b[2K');
      shown = false;
    },
  };
}
