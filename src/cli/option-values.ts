/** Reading and checking option values; every failure is a UsageError naming the flag. */
import type { OptionValues } from './command.ts';
import { parseDuration } from './duration.ts';
import { UsageError } from './errors.ts';

export interface OptionReader {
  string(name: string): string | undefined;
  required(name: string): string;
  flag(name: string): boolean;
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined;
  /** seconds, from `3600` or `1h` */
  duration(name: string): number | undefined;
  positiveInteger(name: string): number | undefined;
  /** `a,b` or `a b` → ['a', 'b'] */
  list(name: string): string[] | undefined;
  jsonObject(name: string): Record<string, unknown> | undefined;
  /** an ISO date-time, or a duration meaning that long ago */
  instant(name: string, now: Date): string | undefined;
}

export function readOptions(values: OptionValues, command: string): OptionReader {
  const fail = (message: string): never => {
    throw new UsageError(message, command);
  };
  const string = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    string,
    required: (name) => string(name) ?? fail(`missing --${name}`),
    flag: (name) => values[name] === true,
    choice(name, choices) {
      const value = string(name);
      if (value === undefined) return undefined;
      const found = choices.find((c) => c.toLowerCase() === value.toLowerCase());
      return found ?? fail(`--${name} must be one of ${choices.join(', ')} (got "${value}")`);
    },
    duration(name) {
      const value = string(name);
      if (value === undefined) return undefined;
      return parseDuration(value) ?? fail(`--${name} expects seconds or a duration like 7d, 12h, 30m (got "${value}")`);
    },
    positiveInteger(name) {
      const value = string(name);
      if (value === undefined) return undefined;
      return /^[1-9]\d*$/.test(value.trim()) ? Number(value) : fail(`--${name} expects a positive whole number (got "${value}")`);
    },
    list(name) {
      const value = string(name);
      if (value === undefined) return undefined;
      return value.split(/[,\s]+/).filter(Boolean);
    },
    jsonObject(name) {
      const value = string(name);
      if (value === undefined) return undefined;
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch (error) {
        return fail(`--${name} is not valid JSON: ${(error as Error).message}`);
      }
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
        ? (parsed as Record<string, unknown>)
        : fail(`--${name} must be a JSON object, e.g. '{"access_token_ttl":600}'`);
    },
    instant(name, now) {
      const value = string(name);
      if (value === undefined) return undefined;
      const ago = parseDuration(value);
      if (ago !== undefined && !/^\d+$/.test(value.trim())) return new Date(now.getTime() - ago * 1000).toISOString();
      const date = new Date(value);
      return /^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(date.getTime())
        ? date.toISOString()
        : fail(`--${name} expects an ISO date-time (2026-01-31T12:00:00Z) or a duration ago (24h, 7d) (got "${value}")`);
    },
  };
}
