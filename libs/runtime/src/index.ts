export * from './migrations.js';
export * from './tokens.js';
export * from './core.module.js';
export * from './health.controller.js';
export * from './metrics.controller.js';
export * from './readiness.js';
export * from './http.js';
