/** Progress lines go to stderr, so stdout stays free for a summary. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
