export * from './projection.js';
export * from './projection-runner.js';
export * from './projection-faults.js';
export * from './stream-catalogue.projection.js';
export * from './store-event-feed.js';
export { Projections1764000001000 } from './migrations/1764000001000-projections.js';
export { ProjectionFaults1764000015100 } from './migrations/1764000015100-projection-faults.js';
export * from './verify-projections.js';
