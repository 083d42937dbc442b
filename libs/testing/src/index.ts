export * from './postgres.js';
export * from './stores.js';
