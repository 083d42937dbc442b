export * from './postgres.js';
export * from './stores.js';
export * from './kafka.js';
export * from './decider.js';
export * from './keys.js';
export * from './forger.js';
export * from './factories.js';
