/** What a command is, and what it gets when it runs. */
import type { AdminClient } from './admin-client.ts';
import type { HttpClient } from './http.ts';
import type { Column, Progress } from './output.ts';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
  /** shown in help: `--name <name>` */
  readonly value?: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Command {
  /** the words that name it: ['tenants', 'create'] */
  readonly path: readonly string[];
  readonly summary: string;
  /** required positional arguments, by name */
  readonly args?: readonly string[];
  readonly options?: Readonly<Record<string, OptionSpec>>;
  /** extra help text under the options */
  readonly notes?: string;
  /** whether it needs the admin API (kek generate and worker do not) */
  readonly local?: boolean;
  run(ctx: CommandContext): Promise<void>;
}

export interface Output {
  readonly json: boolean;
  /** --json: the value as JSON; otherwise `human()` (skipped when it returns undefined) */
  result(value: unknown, human: () => string | undefined): void;
  table<T>(columns: readonly Column<T>[], rows: readonly T[], empty: string): void;
  /** a line for people on stderr (hints, warnings) */
  note(message: string): void;
  readonly progress: Progress;
}

export interface CommandContext {
  /** positional arguments after the command words, by name */
  readonly args: Readonly<Record<string, string>>;
  readonly options: OptionValues;
  readonly out: Output;
  /** the admin API client, built (credentials read) on first use */
  api(): AdminClient;
  /** plain HTTP, for a command that is no admin API client (verify) */
  readonly http: HttpClient;
  readonly now: () => Date;
  /** the environment, DATA_DIR being --data-dir when given: for `worker`, which reads the server's configuration */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function defineCommand(command: Command): Command {
  return command;
}
