export * from './projection.js';
export * from './projection-runner.js';
export * from './stream-catalogue.projection.js';
export * from './store-event-feed.js';
export { Projections1764000001000 } from './migrations/1764000001000-projections.js';
export * from './verify-projections.js';
