export * from './tree.js';
export { Log1764000009000 } from './migrations/1764000009000-log.js';
export * from './checkpoints.js';
export * from './verify-checkpoint.js';
export * from './export.js';
