export * from './tree.js';
export { Log1764000009000 } from './migrations/1764000009000-log.js';
export * from './checkpoints.js';
export * from './verify-checkpoint.js';
export * from './export.js';
export * from './witnesses.js';
export { Cosignatures1764000012000 } from './migrations/1764000012000-cosignatures.js';
export { LogTiles1764000013000 } from './migrations/1764000013000-log-tiles.js';
