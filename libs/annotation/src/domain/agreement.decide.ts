import type { Decider } from '@custos/decider';
import type { GroupAgreementMeasured, GroupAgreementMeasuredData } from './annotation.events.js';

/** The groups' last recorded state in one dataset, by `dimension\u0000group`. */
export interface AgreementState {
  readonly last: ReadonlyMap<string, 'below' | 'at-or-above'>;
}

/** The images with two or more raters a kappa needs before it says anything (below: no state). */
export const MIN_RATED_IMAGES = 10;

export type RecordAgreement = {
  readonly type: 'RecordAgreement';
  /** The measurement, state not yet judged. */
  readonly measurement: Omit<GroupAgreementMeasuredData, 'state'>;
};

const keyOf = (dimension: string, group: string): string => `${dimension}\u0000${group}`;

/** The state a measurement puts its group in; null when it is too thin to say (no kappa or too few images). */
export function agreementStateOf(m: Pick<GroupAgreementMeasuredData, 'kappa' | 'images' | 'minKappa'>): 'below' | 'at-or-above' | null {
  if (m.kappa === null || !Number.isFinite(m.kappa) || m.images < MIN_RATED_IMAGES) return null;
  return m.kappa < m.minKappa ? 'below' : 'at-or-above';
}

/**
 * Records a group's agreement only when its state changes: a first measurement only when it
 * is below the threshold, then each crossing either way. Appended with the version read, so
 * two measurers racing decide again on the fresh state (the shell retries the conflict).
 */
export const agreementDecider: Decider<AgreementState, RecordAgreement, GroupAgreementMeasured> = {
  initialState: { last: new Map() },
  evolve: (state, event) => {
    const last = new Map(state.last);
    last.set(keyOf(event.data.dimension, event.data.group), event.data.state);
    return { last };
  },
  decide(command, state) {
    const m = command.measurement;
    const next = agreementStateOf(m);
    if (next === null) return [];
    const previous = state.last.get(keyOf(m.dimension, m.group));
    if (previous === next || (previous === undefined && next === 'at-or-above')) return [];
    return [{ type: 'GroupAgreementMeasured', data: { ...m, state: next } }];
  },
};
