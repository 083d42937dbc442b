import type { CustosContext } from '@custos/kernel';
import { BALANCE_HANDLERS } from './balance.handlers.js';

/**
 * Bias and privacy: balance reports under differential privacy with their budgets, reference
 * populations, models tied to their snapshots and judged per group (docs/bias.md).
 */
export const fairnessContext: CustosContext = {
  name: 'fairness',
  migrations: [],
  projections: () => [],
  gatewayProviders: () => [...BALANCE_HANDLERS],
};
