/**
 * The architecture rules of .dependency-cruiser.mjs catch what they name: a copy of src/ gets one
 * deliberate back-edge per rule (each in a new file, so the copy's own modules stay as they are)
 * and dependency-cruiser's API, run with the project's configuration, must report exactly those.
 * `npm run lint` runs the same configuration on src/ itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** file in the copy → its content; every import here breaks a rule */
const INJECTED: Record<string, string> = {
  // tenancy sits below admin: a layer back-edge, and a folder cycle (admin imports tenancy)
  'src/tenancy/zz-back-edge.ts': "import '../admin/admin-api.ts';\n",
  'src/api/zz-admin.ts': "import '../admin/admin-schemas.ts';\n",
  'src/admin/zz-api.ts': "import '../api/openapi.ts';\n",
  'src/admin/operator/zz-routes.ts': "import '../tenant-routes.ts';\n",
  'src/webhooks/zz-cli.ts': "import '../cli/run.ts';\n",
  'src/zz-seeds-and-bench.ts': "import '../seeds/demo.ts';\nimport '../bench/run.ts';\n",
  // a type-only import counts too
  'src/api/zz-oidc.ts': "import type Provider from 'oidc-provider';\nexport type P = Provider;\n",
  'src/http/zz-edge.ts': "import '../server.ts';\n",
  // the CLI: a server module, and the admin contract loaded at run time instead of named type-only
  'src/cli/zz-server.ts': "import '../admin/admin-schemas.ts';\n",
  'src/cli/zz-contract.ts': "import '../admin/admin-contract.ts';\n",
  // allowed: the CLI loads the ground floor's plain declarations (not in EXPECTED)
  'src/cli/zz-catalog.ts': "import '../catalog/tenant-statuses.ts';\n",
  // two folders of the same layer importing each other: only the cycle rule can see it
  'src/catalog/zz-cycle.ts': "import '../config/config.ts';\n",
  'src/config/zz-cycle.ts': "import '../catalog/scopes.ts';\n",
  'src/db/zz-a.ts': "import './zz-b.ts';\n",
  'src/db/zz-b.ts': "import './zz-a.ts';\n",
  // targets outside src/ for the seeds/bench rule
  'seeds/demo.ts': 'export {};\n',
  'bench/run.ts': 'export {};\n',
};

/** module rules reported per injected file: exactly these */
const EXPECTED: Record<string, string[]> = {
  'src/tenancy/zz-back-edge.ts': ['layer-tenancy'],
  'src/api/zz-admin.ts': ['api-not-admin'],
  'src/admin/zz-api.ts': ['admin-not-api'],
  'src/admin/operator/zz-routes.ts': ['operator-not-admin-routes'],
  'src/webhooks/zz-cli.ts': ['nothing-imports-cli'],
  'src/zz-seeds-and-bench.ts': ['src-not-seeds-or-bench', 'src-not-seeds-or-bench'],
  'src/api/zz-oidc.ts': ['oidc-provider-only-in-auth'],
  'src/http/zz-edge.ts': ['no-folder-imports-an-edge'],
  'src/cli/zz-server.ts': ['cli-loads-no-server-code', 'cli-names-only-the-admin-contract'],
  'src/cli/zz-contract.ts': ['cli-loads-no-server-code'],
  // catalog/ imports nothing outside it (the same edge also closes the folder cycle below)
  'src/catalog/zz-cycle.ts': ['catalog-imports-only-catalog'],
  // a cycle is reported once, from the first of its modules
  'src/db/zz-a.ts': ['no-module-cycle'],
};

describe('architecture rules (dependency-cruiser)', () => {
  let copy: string;
  let violations: IViolation[];

  beforeAll(async () => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-architecture-'));
    fs.cpSync(path.join(root, 'src'), path.join(copy, 'src'), { recursive: true });
    fs.copyFileSync(path.join(root, 'tsconfig.json'), path.join(copy, 'tsconfig.json'));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    for (const [file, content] of Object.entries(INJECTED)) {
      fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
      fs.writeFileSync(path.join(copy, file), content);
    }
    const options = await extractDepcruiseOptions(path.join(root, '.dependency-cruiser.mjs'));
    const result = await cruise(['src'], { ...options, baseDir: copy, outputType: 'json' });
    violations = (JSON.parse(String(result.output)) as ICruiseResult).summary.violations;
  }, 120_000);

  afterAll(() => {
    if (copy) fs.rmSync(copy, { recursive: true, force: true });
  });

  it('reports each injected back-edge under its rule, and nothing in the unchanged modules', () => {
    const moduleViolations = violations.filter((v) => v.rule.name !== 'no-folder-cycle');
    const byFile: Record<string, string[]> = {};
    for (const v of moduleViolations) (byFile[v.from] ??= []).push(v.rule.name);
    for (const names of Object.values(byFile)) names.sort();
    expect(byFile).toEqual(EXPECTED);
  });

  it('reports a cycle between two folders, also when no layer rule covers it', () => {
    const folderCycles = violations
      .filter((v) => v.rule.name === 'no-folder-cycle')
      .map((v) => [v.from, ...(v.cycle ?? []).map((step) => step.name)].join(' → '));
    expect(folderCycles).toContain('src/catalog → src/config → src/catalog');
    expect(folderCycles).toContain('src/tenancy → src/admin → src/tenancy');
    // every folder cycle passes through a folder with an injected import
    const injectedFolders = new Set(Object.keys(INJECTED).map((file) => path.dirname(file)));
    for (const cycle of folderCycles)
      expect(
        cycle.split(' → ').some((folder) => injectedFolders.has(folder)),
        cycle,
      ).toBe(true);
  });
});
