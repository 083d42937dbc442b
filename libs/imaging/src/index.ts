export * from './domain/image.events.js';
export * from './domain/image.decide.js';
export * from './image.codec.js';
export * from './image-directory.js';
export * from './register-image.handler.js';
export * from './imaging.context.js';
