export * from './identity.js';
export * from './jwt-verifier.js';
export * from './key-sources.js';
export * from './dev-issuer.js';
