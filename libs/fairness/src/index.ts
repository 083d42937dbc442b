export * from './domain/random.js';
export * from './domain/dlap.js';
export * from './domain/groups.js';
export * from './domain/privacy.events.js';
export * from './fairness.context.js';
