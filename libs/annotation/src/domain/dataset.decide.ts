import type { Decider } from '@custos/decider';
import { ValidationError } from '@custos/errors';
import { DATASET_PURPOSES, type DatasetConfigured, type DatasetConfiguredData } from './annotation.events.js';

export interface DatasetState {
  readonly config: DatasetConfiguredData | null;
}

export type ConfigureDataset = { readonly type: 'ConfigureDataset'; readonly config: DatasetConfiguredData };

export const LABEL = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const CREDENTIAL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function checkList(name: string, values: readonly string[], pattern: RegExp, max: number, min = 1): void {
  if (!Array.isArray(values) || values.length < min || values.length > max) throw new ValidationError(`${name} needs 1 to ${max} entries`, { field: name }, `bad-${name}`);
  for (const v of values) if (typeof v !== 'string' || !pattern.test(v)) throw new ValidationError(`${name} entries must match ${pattern.source}`, { field: name }, `bad-${name}`);
  if (new Set(values).size !== values.length) throw new ValidationError(`${name} has duplicates`, { field: name }, `bad-${name}`);
}

/** A dataset's settings: versioned (If-Match), an unchanged PUT records nothing. */
export const datasetDecider: Decider<DatasetState, ConfigureDataset, DatasetConfigured> = {
  initialState: { config: null },
  evolve: (_state, event) => ({ config: event.data }),
  decide(command, state) {
    const c = command.config;
    if (!(DATASET_PURPOSES as readonly string[]).includes(c.purpose)) throw new ValidationError(`purpose must be one of ${DATASET_PURPOSES.join(', ')}`, { field: 'purpose' }, 'bad-purpose');
    checkList('labels', c.labels, LABEL, 200);
    checkList('credentials', c.credentials, CREDENTIAL, 50);
    if (c.researchers !== undefined) checkList('researchers', c.researchers, CREDENTIAL, 200, 0);
    if (!Number.isInteger(c.minReviewers) || c.minReviewers < 1 || c.minReviewers > 5) throw new ValidationError('minReviewers must be an integer from 1 to 5', { field: 'minReviewers' }, 'bad-minReviewers');
    if (state.config && JSON.stringify(state.config) === JSON.stringify(c)) return [];
    return [{ type: 'DatasetConfigured', data: c }];
  },
};
