/** Injection token of the validated CustosConfig. */
export const CUSTOS_CONFIG = Symbol('CUSTOS_CONFIG');
/** Injection token of the process's pino logger. */
export const LOGGER = Symbol('LOGGER');
