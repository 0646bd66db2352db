/** What a scenario is given (settings, its fresh database, a way to start servers) and returns. */
import type { FreshDatabase } from './database.ts';
import type { ScenarioOutcome } from './measurements.ts';
import type { ServerProcess } from './processes.ts';
import type { BenchSettings } from './settings.ts';

export interface ScenarioContext {
  readonly settings: BenchSettings;
  readonly database: FreshDatabase;
  /** KEY_ENCRYPTION_KEY for our server on this database */
  readonly keyEncryptionKey: string;
  /** starts a server process (with `env` added to its environment); run.ts stops it after the scenario, whatever happens */
  start<I>(name: string, script: URL, options: unknown, env?: Record<string, string>): Promise<ServerProcess<I>>;
  /** non-2xx and connection errors seen so far: recorded loudly in the results */
  readonly problems: string[];
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** slow: runs only when named (`npm run bench -- <name>`), never in the default run */
  readonly onlyWhenNamed?: boolean;
  run(context: ScenarioContext): Promise<ScenarioOutcome>;
}
