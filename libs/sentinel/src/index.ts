export * from './domain/incident.events.js';
export * from './domain/incident.decide.js';
export * from './domain/clocks.js';
export * from './domain/rules.js';
