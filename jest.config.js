// One Jest run for the whole suite: unit (*.spec.ts), integration (*.int-spec.ts, real
// PGlite/PostgreSQL/Kafka) and end-to-end (apps/*/test/*.e2e-spec.ts, over HTTP).
// NestJS 12 ships as ES modules only, so the project and its tests are ESM: Jest runs with
// --experimental-vm-modules and @swc/jest transpiles (type checking is `npm run typecheck`).
import { readFileSync } from 'node:fs';

const swc = JSON.parse(readFileSync(new URL('./.swcrc', import.meta.url), 'utf8'));
delete swc.$schema;

/** @type {import('jest').Config} */
export default {
  rootDir: import.meta.dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/{apps,libs}/**/*.{spec,int-spec,e2e-spec}.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swc, swcrc: false }] },
  moduleNameMapper: {
    '^@custos/(.*)$': '<rootDir>/libs/$1/src/index.ts',
  },
  resolver: '<rootDir>/libs/testing/resolver.cjs',
  globalSetup: '<rootDir>/libs/testing/global-setup.mjs',
  reporters: ['default', '<rootDir>/libs/testing/summary-reporter.mjs'],
  testTimeout: 120000,
  maxWorkers: 2,
};
