/**
 * What the bounded contexts and the processes share, below both: the shape a context
 * describes itself with (CustosContext) and the DI tokens (config, logger, readiness probes).
 * Contexts import this, never `@custos/runtime` (which builds processes out of contexts) nor
 * `@custos/contexts` (which lists them); `.dependency-cruiser.cjs` keeps it so.
 */
export * from './context.js';
export * from './tokens.js';
export * from './readiness.js';
