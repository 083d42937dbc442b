export * from './access.policy.js';
