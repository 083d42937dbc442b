export * from './clock.js';
export * from './ids.js';
export * from './config.js';
export * from './logger.js';
export * from './problem.filter.js';
export * from './metrics.js';
export * from './instant.js';
