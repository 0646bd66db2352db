import { describe, expect, it } from 'vitest';
import { commandWords, parseCommandLine } from '../../src/cli/args.ts';
import { COMMANDS } from '../../src/cli/commands/index.ts';
import { UsageError } from '../../src/cli/errors.ts';

const parse = (argv: string[], env: Record<string, string> = {}) => parseCommandLine(argv, COMMANDS, env);

function usageError(argv: string[]): UsageError {
  try {
    parse(argv);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('command words', () => {
  it('skips options and their values wherever they stand', () => {
    expect(commandWords(['--env', 'sandbox', '--json', 'tenants', '--status', 'ACTIVE', 'list'], COMMANDS)).toEqual(['tenants', 'list']);
    expect(commandWords(['--data-dir=/x', 'clients', 'get', 'acme', 'id'], COMMANDS)).toEqual(['clients', 'get', 'acme']);
    expect(commandWords(['audit', '--limit', '5'], COMMANDS)).toEqual(['audit']);
  });
});

describe('parseCommandLine', () => {
  it('finds the command, its arguments and options, and the global options', () => {
    const parsed = parse(['tenants', 'create', 'acme', '--name', 'Acme', '--json', '--env', 'sandbox', '--access-token-ttl', '10m']);
    expect(parsed.kind).toBe('command');
    if (parsed.kind !== 'command') return;
    expect(parsed.command.path).toEqual(['tenants', 'create']);
    expect(parsed.args).toEqual({ slug: 'acme' });
    expect(parsed.options).toEqual({ name: 'Acme', 'access-token-ttl': '10m' });
    expect(parsed.global).toMatchObject({ environment: 'sandbox', json: true, dataDir: './data' });
  });

  it('takes global options from the environment, flags first', () => {
    const env = {
      TENANT_CONNECT_ENV: 'sandbox',
      DATA_DIR: '/srv/data',
      TENANT_CONNECT_ADMIN_URL: 'http://admin.x/v1',
      TENANT_CONNECT_CLIENT_ID: 'from-env',
    };
    const parsed = parse(['tenants', 'list', '--client-id', 'from-flag'], env);
    if (parsed.kind !== 'command') throw new Error('expected a command');
    expect(parsed.global).toMatchObject({
      environment: 'sandbox',
      dataDir: '/srv/data',
      adminUrl: 'http://admin.x/v1',
      clientId: 'from-flag',
    });
  });

  it.each([
    [[], 'no command given', ''],
    [['nope'], 'unknown command "nope"', ''],
    [['tenants'], 'missing command after "tenants"', 'tenants'],
    [['tenants', 'frobnicate'], 'unknown command "tenants frobnicate"', 'tenants'],
    [['tenants', 'get'], 'missing <slug>', 'tenants get'],
    [['clients', 'get', 'acme'], 'missing <client_id>', 'clients get'],
    [['tenants', 'get', 'a', 'b'], 'unexpected argument "b"', 'tenants get'],
    [['tenants', 'list', '--bogus'], "unknown option '--bogus'", 'tenants list'],
    [['tenants', 'create', 'acme', '--name'], "option '--name <value>' argument missing", 'tenants create'],
  ])('%j is a usage error', (argv, message, command) => {
    const error = usageError(argv);
    expect(error.message).toContain(message);
    expect(error.command).toBe(command);
  });

  it('answers --help at every level, and the help command', () => {
    const top = parse(['--help']);
    expect(top.kind === 'help' && top.text).toContain('tenants create <slug>');
    const group = parse(['clients', '-h']);
    expect(group.kind === 'help' && group.text).toContain('clients rotate-secret <tenant> <client_id>');
    const command = parse(['clients', 'rotate-secret', '--help']);
    expect(command.kind === 'help' && command.text).toContain('--expires-in <duration>');
    const viaHelp = parse(['help', 'keys', 'rotate']);
    expect(viaHelp.kind === 'help' && viaHelp.text).toContain('Usage: tenant-connect keys rotate <tenant>');
  });
});
