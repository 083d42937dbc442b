export * from './topics.js';
export * from './kafka.js';
export * from './outbox-relay.js';
export * from './kafka-event-feed.js';
export * from './store-confirmation.js';
