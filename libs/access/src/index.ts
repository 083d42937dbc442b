export * from './access.events.js';
export * from './image.events.js';
export * from './access.decide.js';
export * from './consent.port.js';
export * from './access.handlers.js';
export * from './access.queries.js';
export * from './access-trail.projection.js';
export * from './fhir-audit-event.js';
export { Access1764000002000 } from './migrations/1764000002000-access.js';
