export * from './kek.js';
export * from './key-service.js';
export * from './payloads.js';
export * from './signer.js';
export { Keys1764000005000 } from './migrations/1764000005000-keys.js';
export * from './jwks.query.js';
