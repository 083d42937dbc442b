import type { Decider } from '@custos/decider';
import { ValidationError } from '@custos/errors';
import { visibleLength } from '@custos/vocabulary';
import { DIMENSIONS, type Dimension, groupDomains, isDimension } from './groups.js';
import type { ReferencePopulationSet, ReferencePopulationSetData } from './privacy.events.js';

/** A dataset's reference population (versioned, If-Match like dataset settings); an unchanged PUT records nothing. */
export interface ReferenceState {
  readonly reference: ReferencePopulationSetData | null;
}

export type SetReference = { readonly type: 'SetReference'; readonly reference: ReferencePopulationSetData; readonly ethnicityGroups: readonly string[] };

const TOLERANCE = 0.001;
/** The smallest share a group may have: a share of 1e-320 would make its ratio infinite. */
const MIN_SHARE = 0.0001;

function bad(field: string, message: string): ValidationError {
  return new ValidationError(message, { field }, 'bad-reference');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The shares checked: known dimensions and groups, each share from 0.0001 to 1, each dimension summing to 1 ± 0.001. */
export function checkReference(source: unknown, shares: unknown, ethnicityGroups: readonly string[]): void {
  if (typeof source !== 'string' || visibleLength(source) < 1 || source.length > 200) throw bad('source', 'source must name where the shares come from (1 to 200 characters)');
  if (!isRecord(shares)) throw bad('shares', 'shares must be an object of dimensions');
  const dims = Object.keys(shares);
  if (dims.length === 0) throw bad('shares', `shares needs at least one of ${DIMENSIONS.join(', ')}`);
  const domains = groupDomains(ethnicityGroups);
  for (const d of dims) {
    if (!isDimension(d)) throw bad(`shares.${d}`, `unknown dimension ${JSON.stringify(d).slice(0, 60)}: one of ${DIMENSIONS.join(', ')}`);
    const groups = shares[d];
    if (!isRecord(groups) || Object.keys(groups).length === 0) throw bad(`shares.${d}`, `shares.${d} must be an object of group → share`);
    let sum = 0;
    for (const [g, v] of Object.entries(groups)) {
      if (!domains[d as Dimension].includes(g)) throw bad(`shares.${d}`, `unknown ${d} group ${JSON.stringify(g).slice(0, 60)}: one of ${domains[d as Dimension].join(', ')}`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN_SHARE || v > 1) throw bad(`shares.${d}.${g}`, `shares.${d}.${g} must be a number from ${MIN_SHARE} to 1 (leave out a group of no share)`);
      sum += v;
    }
    if (Math.abs(sum - 1) > TOLERANCE) throw bad(`shares.${d}`, `the shares of ${d} sum to ${sum.toFixed(4)}, not 1 (± ${TOLERANCE})`);
  }
}

export const referenceDecider: Decider<ReferenceState, SetReference, ReferencePopulationSet> = {
  initialState: { reference: null },
  evolve: (_state, event) => ({ reference: event.data }),
  decide(command, state) {
    const r = command.reference;
    checkReference(r.source, r.shares, command.ethnicityGroups);
    if (state.reference && JSON.stringify(state.reference) === JSON.stringify(r)) return [];
    return [{ type: 'ReferencePopulationSet', data: r }];
  },
};
