/**
 * verify: the attacker's view of a deployment's tenant isolation, as a command. A client of the
 * public token endpoints, discovery and resource API only (never the admin API), with two or more
 * tenants' credentials; a progress line per group on stderr, then the checks; exit 1 when any fails.
 */
import path from 'node:path';
import { retryingAfter } from '../admin-client.ts';
import { defineCommand, type Command } from '../command.ts';
import { CliError } from '../errors.ts';
import { readOptions } from '../option-values.ts';
import { formatTable, type Column } from '../output.ts';
import { PROBE_GROUPS, RECORD_PREFIX, randomNonce, type Check } from '../verify/probes.ts';
import { createSubjects } from '../verify/subjects.ts';
import { readTenantCredentials } from '../verify/tenant-credentials.ts';

export const CHECK_COLUMNS: readonly Column<Check>[] = [
  { header: 'GROUP', value: (c) => c.group },
  { header: 'CHECK', value: (c) => c.name },
  { header: 'EXPECTED', value: (c) => c.expected },
  { header: 'OBSERVED', value: (c) => c.observed },
  { header: 'RESULT', value: (c) => c.result },
];

interface Summary {
  readonly checks: number;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
}

function summarize(checks: readonly Check[]): Summary {
  const count = (result: Check['result']) => checks.filter((c) => c.result === result).length;
  return { checks: checks.length, passed: count('pass'), failed: count('fail'), skipped: count('skip') };
}

function summaryLine(summary: Summary): string {
  const parts = [`${summary.passed} passed`, `${summary.failed} failed`, ...(summary.skipped ? [`${summary.skipped} skipped`] : [])];
  return `${summary.checks} check${summary.checks === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

export const verifyCommands: Command[] = [
  defineCommand({
    path: ['verify'],
    summary: "Probe a deployment's tenant isolation from outside, as two or more tenants' clients.",
    local: true,
    options: {
      credentials: {
        type: 'string',
        value: 'file',
        description: 'tenant client credentials, a JSON array shaped like data/demo-credentials.json (required)',
      },
      'allow-writes': {
        type: 'boolean',
        description: `also probe writes by id across tenants, on ${RECORD_PREFIX}… records it creates and deletes`,
      },
      json: { type: 'boolean', description: 'one JSON document on stdout (progress stays on stderr)' },
    },
    notes: [
      'Talks only to the URLs in the file (token endpoints, discovery, the resource API); besides token requests',
      'it only reads unless --allow-writes. Probes: tokens across tenants and environments, foreign resource ids, tenant_id in the',
      'query, forged tokens (alg none, HS256 keyed with the public key, a relabelled header), Host and',
      'X-Forwarded-Host reflection into discovery, an unknown tenant, access_token in the query.',
      'Exit status: 0 every check held (skipped ones say why), 1 a check failed or no token was issued, 2 usage error.',
    ].join('\n'),
    async run(ctx) {
      const o = readOptions(ctx.options, 'verify');
      const file = path.resolve(o.required('credentials'));
      const allowWrites = o.flag('allow-writes');
      const credentials = readTenantCredentials(file);
      const http = retryingAfter(ctx.http);
      const labels = credentials.map((c) => `${c.environment}/${c.tenant}`).join(', ');
      ctx.out.note(`verify: ${credentials.length} tenants (${labels}), ${allowWrites ? 'reads and writes' : 'read-only'}`);

      const subjects = await createSubjects(http, credentials);
      const probeCtx = { http, subjects, allowWrites, nonce: randomNonce };
      const checks: Check[] = [];
      for (const group of PROBE_GROUPS) {
        const found = await group.run(probeCtx);
        checks.push(...found);
        ctx.out.note(`verify: ${group.name}: ${summaryLine(summarize(found))}`);
      }

      const summary = summarize(checks);
      const tenants = credentials.map((c) => ({ environment: c.environment, tenant: c.tenant, issuer: c.issuer, api_base: c.api_base }));
      ctx.out.result(
        { ok: summary.failed === 0, allow_writes: allowWrites, tenants, summary, checks },
        () => `${formatTable(CHECK_COLUMNS, checks)}\n${summaryLine(summary)}\n`,
      );
      if (summary.failed) {
        const failed = checks.filter((c) => c.result === 'fail').map((c) => `- ${c.group}: ${c.name}: ${c.observed}`);
        throw new CliError(`${summary.failed} of ${summary.checks} checks failed`, failed);
      }
    },
  }),
];
