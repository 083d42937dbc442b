export * from './domain/annotation.events.js';
export * from './domain/annotation.decide.js';
export * from './domain/dataset.decide.js';
export * from './annotation.codec.js';
export * from './annotation-directory.js';
export * from './annotations.projection.js';
export * from './annotation.handlers.js';
export * from './annotation.context.js';
