/**
 * One CLI run as a function of its inputs (argv, environment, streams, an HTTP client), returning
 * the exit code, so tests can drive it without a process.
 */
import path from 'node:path';
import { createAdminClient, type AdminClient } from './admin-client.ts';
import { parseCommandLine, PROGRAM } from './args.ts';
import type { Command, Output } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { resolveTarget } from './credentials.ts';
import { EXIT_OK, renderError } from './errors.ts';
import { nodeHttpClient, type HttpClient } from './http.ts';
import { createProgress, formatTable, type Writer } from './output.ts';

export interface CliIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
  readonly http?: HttpClient;
  readonly now?: () => Date;
}

function createOutput(io: CliIo, json: boolean): Output {
  return {
    json,
    result(value, human) {
      if (json) {
        if (value !== undefined) io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
        return;
      }
      const text = human();
      if (text !== undefined) io.stdout.write(text);
    },
    table(columns, rows, empty) {
      io.stdout.write(rows.length ? formatTable(columns, rows) : `${empty}\n`);
    },
    note(message) {
      io.stderr.write(`${message}\n`);
    },
    progress: createProgress(io.stderr),
  };
}

export async function runCli(argv: readonly string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  try {
    const parsed = parseCommandLine(argv, commands, io.env);
    if (parsed.kind === 'help') {
      io.stdout.write(parsed.text);
      return EXIT_OK;
    }
    const { command, args, options, global } = parsed;
    let client: AdminClient | undefined;
    await command.run({
      args,
      options,
      out: createOutput(io, global.json),
      now: io.now ?? (() => new Date()),
      http: io.http ?? nodeHttpClient,
      env: { ...io.env, DATA_DIR: path.resolve(io.cwd, global.dataDir) },
      api() {
        client ??= createAdminClient(
          resolveTarget({
            environment: global.environment,
            dataDir: path.resolve(io.cwd, global.dataDir),
            adminUrl: global.adminUrl,
            tokenUrl: global.tokenUrl,
            clientId: global.clientId,
            clientSecret: global.clientSecret,
          }),
          io.http ?? nodeHttpClient,
        );
        return client;
      },
    });
    return EXIT_OK;
  } catch (error) {
    const { lines, exitCode } = renderError(error, PROGRAM);
    io.stderr.write(`${lines.join('\n')}\n`);
    return exitCode;
  }
}
