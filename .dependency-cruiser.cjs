/**
 * Architecture rules, checked in CI (`npm run deps:check`), after domain-driven-hexagon:
 * domain code imports no framework, apps reach libs only through their index.ts, libs never
 * reach into apps, nothing is circular.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-reaches-no-framework',
      comment:
        'Deciders, events and policies (each context\'s domain/ folder, and the pure libs authz, vocabulary, decider, errors) ' +
        'reach no framework or driver, not even through another module: no Nest, TypeORM, pg, PGlite, Kafka, JOSE, logging or I/O.',
      severity: 'error',
      from: { path: '^libs/([^/]+/src/domain/|(authz|vocabulary|decider|errors|merkle|export-format)/)', pathNot: '\\.spec\\.ts$' },
      to: {
        reachable: true,
        path: 'node_modules/(@nestjs|typeorm|typeorm-pglite|@electric-sql|kafkajs|pg|pg-[a-z-]+|node-jose|pino|prom-client|express|fastify|@fastify)/|^(node:)?(fs|fs/promises|net|http|https|child_process)$',
      },
    },
    {
      name: 'verifier-needs-no-service',
      comment: 'The offline verifier a regulator runs, and the witness, import nothing of NestJS, TypeORM, pg or kafkajs, not even through a lib.',
      severity: 'error',
      from: { path: '^apps/(verifier|witness)/src/' },
      to: { reachable: true, path: 'node_modules/(@nestjs|typeorm|typeorm-pglite|@electric-sql|kafkajs|pg|pg-[a-z-]+)/' },
    },
    {
      name: 'errors-lib-is-pure',
      severity: 'error',
      from: { path: '^libs/errors/' },
      to: { path: 'node_modules|^libs/(?!errors/)' },
    },
    {
      name: 'apps-use-lib-index-only',
      comment: 'Apps import a lib only through libs/<name>/src/index.ts (its public API).',
      severity: 'error',
      from: { path: '^apps/' },
      to: { path: '^libs/[^/]+/src/(?!index\\.ts$)' },
    },
    {
      name: 'libs-use-lib-index-only',
      comment: 'A lib imports another lib only through that lib\'s index.ts.',
      severity: 'error',
      from: { path: '^libs/([^/]+)/' },
      to: { path: '^libs/([^/]+)/src/(?!index\\.ts$)', pathNot: '^libs/$1/' },
    },
    {
      name: 'libs-never-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'contexts-sit-below-runtime',
      comment:
        'The bounded contexts and the libs below them take the context type and the DI tokens from libs/kernel; ' +
        'they never reach libs/runtime (which builds processes out of contexts) nor libs/contexts (which lists them).',
      severity: 'error',
      from: { path: '^libs/(?!runtime/|contexts/|testing/)[^/]+/src/', pathNot: '\\.(spec|int-spec|e2e-spec)\\.ts$' },
      to: { path: '^libs/(runtime|contexts)/' },
    },
    {
      name: 'kernel-is-below-everything-it-names',
      comment: 'libs/kernel is what contexts and processes share: it reaches no context, no process builder.',
      severity: 'error',
      from: { path: '^libs/kernel/' },
      to: { path: '^libs/(access|annotation|consent|imaging|sentinel|log|keys|contexts|runtime|messaging|identity|testing)/' },
    },
    {
      name: 'testing-knows-no-context',
      comment: 'libs/testing takes migrations as a parameter: it imports neither the list of contexts nor any context, so a context\'s tests can use it without a cycle.',
      severity: 'error',
      from: { path: '^libs/testing/' },
      to: { path: '^libs/(contexts|access|annotation|consent|imaging|sentinel|log|runtime)/' },
    },
    {
      name: 'production-code-never-imports-testing',
      severity: 'error',
      from: { path: '^(apps|libs)/', pathNot: '\\.(spec|int-spec|e2e-spec)\\.ts$|^libs/testing/|^apps/[^/]+/test/' },
      to: { path: '^libs/testing/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};
