/** Durations on the command line: plain seconds (`3600`) or units (`7d`, `12h`, `30m`, `1h30m`, `2w`). */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** seconds, or undefined when the text is not a duration */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  if (!/^(\d+[smhdw])+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhdw])/g)) total += Number(amount) * (UNIT_SECONDS[unit as string] as number);
  return Number.isSafeInteger(total) ? total : undefined;
}

/** 604800 → "7d", 5400 → "1h30m", 0 → "0s" */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's']) {
    const size = UNIT_SECONDS[unit] as number;
    const amount = Math.floor(rest / size);
    if (amount) out += `${amount}${unit}`;
    rest -= amount * size;
  }
  return out;
}
