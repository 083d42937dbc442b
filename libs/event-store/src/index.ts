export * from './envelope.js';
export * from './canonical-json.js';
export * from './hash-chain.js';
export * from './database.js';
export * from './event-store.js';
export * from './verify.js';
export { EventStore1764000000000 } from './migrations/1764000000000-event-store.js';
