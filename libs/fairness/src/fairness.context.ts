import { DemographicGroups } from '@custos/annotation';
import type { CustosContext } from '@custos/kernel';
import { groupsOf } from './domain/groups.js';
import { Models1764000020300 } from './migrations/1764000020300-models.js';
import { MODEL_HANDLERS } from './model.handlers.js';
import { ModelsProjection } from './model.projection.js';
import { BALANCE_HANDLERS } from './balance.handlers.js';

/**
 * Bias and privacy: balance reports under differential privacy with their budgets, reference
 * populations, models tied to their snapshots and judged per group (docs/bias.md).
 */
export const fairnessContext: CustosContext = {
  name: 'fairness',
  migrations: [Models1764000020300],
  projections: () => [new ModelsProjection()],
  gatewayProviders: (config) => [
    ...BALANCE_HANDLERS,
    ...MODEL_HANDLERS,
    { provide: DemographicGroups, useValue: { of: (d, year) => groupsOf(d, year, config.fairness.ethnicityGroups) } satisfies DemographicGroups },
  ],
};
