// Architecture rules, checked by `npm run lint` (depcruise src). The layers, lowest first: a folder
// imports its own layer or lower ones, never a higher one, so no cycle between them can form.
// docs/architecture.md (Layers and the rules lint checks) draws the same picture.
/** @type {string[][]} */
export const LAYERS = [
  ['catalog', 'config', 'observability'],
  ['db'],
  ['tenancy'],
  ['http'],
  ['auth'],
  ['webhooks'],
  ['api', 'admin', 'cluster'],
];

const folders = (names) => `^src/(${names.join('|')})/`;

/** One rule per layer: nothing in it imports a folder of a higher layer. */
const layerRules = LAYERS.slice(0, -1).map((layer, index) => ({
  name: `layer-${layer.join('-')}`,
  comment: `${layer.join(', ')} may import only ${LAYERS.slice(0, index + 1)
    .flat()
    .join(', ')} (the layers at or below it)`,
  severity: 'error',
  from: { path: folders(layer) },
  to: { path: folders(LAYERS.slice(index + 1).flat()) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-folder-cycle',
      comment: 'folders depend on each other one way: a cycle between two folders means a module sits in the wrong one',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-module-cycle',
      comment: 'modules depend on each other one way, like the folders they sit in',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'no-folder-imports-an-edge',
      comment:
        'the process edges (server.ts, boot.ts, main.ts, worker.ts, startup.ts) compose every folder, so no folder imports them; ' +
        "the one exception is the CLI's `worker` command, which is that process edge started from the CLI",
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: '^src/cli/commands/worker\\.ts$' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'cli-worker-imports-only-the-worker-edge',
      comment: "the CLI's `worker` command starts src/worker.ts and no other process edge",
      severity: 'error',
      from: { path: '^src/cli/commands/worker\\.ts$' },
      to: { path: '^src/[^/]+\\.ts$', pathNot: '^src/worker\\.ts$' },
    },
    {
      name: 'api-not-admin',
      comment: 'the resource API and the admin API share plumbing through http/, never each other',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/admin/' },
    },
    {
      name: 'admin-not-api',
      comment: 'the resource API and the admin API share plumbing through http/, never each other',
      severity: 'error',
      from: { path: '^src/admin/' },
      to: { path: '^src/api/' },
    },
    {
      name: 'operator-not-admin-routes',
      comment: 'admin/operator/ works without the admin HTTP surface (boot and bench call it directly)',
      severity: 'error',
      from: { path: '^src/admin/operator/' },
      to: { path: '^src/admin/[^/]+\\.ts$' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'the CLI is a client of the admin API: nothing else depends on it',
      severity: 'error',
      from: { pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'cli-loads-no-server-code',
      comment:
        "the CLI runs without the server's modules: from src/ outside cli/ it loads only catalog/ (plain declarations " +
        "that import nothing else) and names the admin contract's types (import type, erased at compile time); " +
        'the `worker` command and its src/worker.ts are the one exception',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: '^src/cli/commands/worker\\.ts$' },
      to: { path: '^src/(?!cli/|catalog/)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'cli-names-only-the-admin-contract',
      comment:
        'the CLI reads what the admin API answers from admin/admin-contract.ts, not from the modules behind it; ' +
        'lists it shares with the server (statuses, algorithms, methods, page limits) come from catalog/',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: '^src/cli/commands/worker\\.ts$' },
      to: { path: '^src/(?!cli/|catalog/|admin/admin-contract\\.ts$)' },
    },
    {
      name: 'catalog-imports-only-catalog',
      comment: 'catalog/ is the ground floor every layer and the CLI load: its declarations import nothing outside it',
      severity: 'error',
      from: { path: '^src/catalog/' },
      to: { path: '^src/(?!catalog/)' },
    },
    {
      name: 'src-not-seeds-or-bench',
      comment: 'seeds/ and bench/ use the service, the service never uses them',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(seeds|bench)/' },
    },
    {
      name: 'oidc-provider-only-in-auth',
      comment: 'auth/ is the one place that knows oidc-provider (STYLE.md: use it through its documented configuration)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/auth/' },
      to: { path: '(^|/)node_modules/(@types/)?oidc-provider/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that does not resolve would hide a dependency from every rule above',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // type-only imports are dependencies too: a layer must not even name a type from above it
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|data|coverage)/' },
  },
};
