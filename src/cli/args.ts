/**
 * The command line: find the command its words name, then let node:util parseArgs check every
 * option strictly against the global options plus that command's own. Help text is generated from
 * the same definitions.
 */
import { parseArgs } from 'node:util';
import type { Command, OptionSpec, OptionValues } from './command.ts';
import { UsageError } from './errors.ts';

export const PROGRAM = 'tenant-connect';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec & { readonly short?: string }>> = {
  env: { type: 'string', value: 'name', description: 'environment in the credentials file (default: $TENANT_CONNECT_ENV or production)' },
  json: { type: 'boolean', description: "machine output: the API's JSON as it is" },
  'data-dir': { type: 'string', value: 'dir', description: 'where the server keeps admin-credentials.json (default: $DATA_DIR or ./data)' },
  'admin-url': {
    type: 'string',
    value: 'url',
    description: 'admin API base, e.g. http://admin.connect.localhost:3000/v1 ($TENANT_CONNECT_ADMIN_URL)',
  },
  'token-url': { type: 'string', value: 'url', description: 'token endpoint for the admin client ($TENANT_CONNECT_TOKEN_URL)' },
  'client-id': { type: 'string', value: 'id', description: 'admin client id ($TENANT_CONNECT_CLIENT_ID)' },
  'client-secret': { type: 'string', value: 'secret', description: 'admin client secret ($TENANT_CONNECT_CLIENT_SECRET)' },
  help: { type: 'boolean', short: 'h', description: 'show help (also after any command)' },
};

export interface GlobalOptions {
  readonly environment: string;
  readonly json: boolean;
  readonly dataDir: string;
  readonly adminUrl: string | undefined;
  readonly tokenUrl: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
}

export type Parsed =
  | { readonly kind: 'help'; readonly text: string }
  | {
      readonly kind: 'command';
      readonly command: Command;
      readonly args: Record<string, string>;
      readonly options: OptionValues;
      readonly global: GlobalOptions;
    };

function takesValue(name: string, commands: readonly Command[]): boolean {
  if (GLOBAL_OPTIONS[name]?.type === 'string') return true;
  return commands.some((c) => c.options?.[name]?.type === 'string');
}

/** The leading words of the command line that are not options or option values (at most three: `help tenants create`). */
export function commandWords(argv: readonly string[], commands: readonly Command[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 3; i++) {
    const token = argv[i] as string;
    if (token === '--') break;
    if (token.startsWith('--')) {
      if (!token.includes('=') && takesValue(token.slice(2), commands)) i++;
    } else if (token.startsWith('-') && token.length > 1) {
      // -h is the only short option
    } else {
      words.push(token);
    }
  }
  return words;
}

export function commandName(command: Command): string {
  return command.path.join(' ');
}

function groups(commands: readonly Command[]): string[] {
  return [...new Set(commands.map((c) => c.path[0] as string))];
}

function findCommand(words: readonly string[], commands: readonly Command[]): Command | undefined {
  return commands.find((c) => c.path.every((p, i) => words[i] === p));
}

function optionLines(options: Readonly<Record<string, OptionSpec & { readonly short?: string }>>): string[] {
  const left = Object.entries(options).map(
    ([name, spec]) => `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? ` <${spec.value}>` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length));
  return Object.values(options).map((spec, i) => `  ${(left[i] as string).padEnd(width)}  ${spec.description}`);
}

function usageLine(command: Command): string {
  const args = (command.args ?? []).map((a) => `<${a}>`).join(' ');
  return `${PROGRAM} ${commandName(command)}${args ? ` ${args}` : ''}${command.options && Object.keys(command.options).length ? ' [options]' : ''}`;
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary];
  if (command.options && Object.keys(command.options).length) lines.push('', 'Options:', ...optionLines(command.options));
  if (command.notes) lines.push('', command.notes);
  if (!command.local) lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  return `${lines.join('\n')}\n`;
}

function summaryLines(commands: readonly Command[]): string[] {
  const left = commands.map(usageLine).map((u) => u.slice(PROGRAM.length + 1).replace(/ \[options\]$/, ''));
  const width = Math.max(...left.map((l) => l.length));
  return commands.map((c, i) => `  ${(left[i] as string).padEnd(width)}  ${c.summary}`);
}

export function groupHelp(group: string, commands: readonly Command[]): string {
  const members = commands.filter((c) => c.path[0] === group);
  return `Usage: ${PROGRAM} ${group} <command> [options]\n\nCommands:\n${summaryLines(members).join('\n')}\n\nRun '${PROGRAM} ${group} <command> --help' for a command's options.\n`;
}

export function topHelp(commands: readonly Command[]): string {
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    "Operate tenant-connect through its admin API: tenants, their clients, signing keys and webhooks, the key-encryption key, the audit log; run a webhook delivery worker; verify a deployment's tenant isolation from outside.",
    '',
    'Commands:',
    ...summaryLines(commands),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Credentials come from <data-dir>/admin-credentials.json, which the server writes when it starts,`,
    'unless --admin-url, --token-url, --client-id and --client-secret (or their TENANT_CONNECT_* variables) say otherwise.',
    `Exit status: 0 ok, 1 the API, the network or the credentials failed, 2 usage error.`,
    '',
  ].join('\n');
}

function parseError(error: unknown, command: string): UsageError {
  const message = error instanceof Error ? error.message : String(error);
  // parseArgs explains how to pass a positional starting with '-'; the first sentence is the point
  const first = message.split(/\. (?=To specify)/)[0] as string;
  const text = first.replace(/\.$/, '');
  return new UsageError(text.charAt(0).toLowerCase() + text.slice(1), command);
}

export function parseCommandLine(argv: readonly string[], commands: readonly Command[], env: Record<string, string | undefined>): Parsed {
  const words = commandWords(argv, commands);
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (words[0] === 'help') {
    const rest = words.slice(1);
    const command = findCommand(rest, commands);
    if (command) return { kind: 'help', text: commandHelp(command) };
    if (rest[0] && groups(commands).includes(rest[0])) return { kind: 'help', text: groupHelp(rest[0], commands) };
    if (rest[0]) throw new UsageError(`unknown command "${rest.join(' ')}"`, '');
    return { kind: 'help', text: topHelp(commands) };
  }
  if (!words.length) {
    if (wantsHelp) return { kind: 'help', text: topHelp(commands) };
    throw new UsageError('no command given', '');
  }
  const command = findCommand(words, commands);
  if (!command) {
    const group = words[0] as string;
    if (groups(commands).includes(group)) {
      if (wantsHelp && words.length === 1) return { kind: 'help', text: groupHelp(group, commands) };
      const subs = commands.filter((c) => c.path[0] === group).map((c) => c.path[1]);
      if (words.length === 1) throw new UsageError(`missing command after "${group}": one of ${subs.join(', ')}`, group);
      throw new UsageError(`unknown command "${group} ${words[1]}": expected one of ${subs.join(', ')}`, group);
    }
    throw new UsageError(`unknown command "${group}"`, '');
  }
  const name = commandName(command);
  if (wantsHelp) return { kind: 'help', text: commandHelp(command) };

  let values: OptionValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    }) as { values: OptionValues; positionals: string[] });
  } catch (error) {
    throw parseError(error, name);
  }
  const rest = positionals.slice(command.path.length);
  const names = command.args ?? [];
  const missing = names.slice(rest.length);
  if (missing.length) throw new UsageError(`missing ${missing.map((m) => `<${m}>`).join(' ')}`, name);
  if (rest.length > names.length) throw new UsageError(`unexpected argument "${rest[names.length]}"`, name);
  const args = Object.fromEntries(names.map((n, i) => [n, rest[i] as string]));

  const str = (flag: string, variable?: string): string | undefined => {
    const value = (values[flag] as string | undefined) ?? (variable ? env[variable] : undefined);
    return value === '' ? undefined : value;
  };
  const global: GlobalOptions = {
    environment: str('env', 'TENANT_CONNECT_ENV') ?? 'production',
    json: values.json === true,
    dataDir: str('data-dir', 'DATA_DIR') ?? './data',
    adminUrl: str('admin-url', 'TENANT_CONNECT_ADMIN_URL'),
    tokenUrl: str('token-url', 'TENANT_CONNECT_TOKEN_URL'),
    clientId: str('client-id', 'TENANT_CONNECT_CLIENT_ID'),
    clientSecret: str('client-secret', 'TENANT_CONNECT_CLIENT_SECRET'),
  };
  const options = Object.fromEntries(Object.entries(values).filter(([key]) => !(key in GLOBAL_OPTIONS)));
  return { kind: 'command', command, args, options, global };
}
