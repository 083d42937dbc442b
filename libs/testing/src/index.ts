export * from './postgres.js';
export * from './stores.js';
export * from './kafka.js';
