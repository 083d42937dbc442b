export * from './rfc9162.js';
