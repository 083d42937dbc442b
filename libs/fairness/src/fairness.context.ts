import type { CustosContext } from '@custos/kernel';

/**
 * Bias and privacy: balance reports under differential privacy with their budgets, reference
 * populations, models tied to their snapshots and judged per group (docs/bias.md).
 */
export const fairnessContext: CustosContext = {
  name: 'fairness',
  migrations: [],
  projections: () => [],
  gatewayProviders: () => [],
};
