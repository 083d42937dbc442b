export * from './domain/random.js';
export * from './domain/dlap.js';
export * from './domain/groups.js';
export * from './domain/privacy.events.js';
export * from './fairness.context.js';
export * from './domain/model.events.js';
export * from './domain/balance.js';
export * from './domain/representation.js';
