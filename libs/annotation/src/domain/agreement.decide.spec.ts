import { given } from '@custos/testing';
import { agreementDecider, agreementStateOf, type RecordAgreement } from './agreement.decide.js';
import type { GroupAgreementMeasured } from './annotation.events.js';

const reviews = [{ eventId: 'e-2', sequence: 2, hash: 'b'.repeat(64) }];
const measure = (kappa: number | null, images = 12, over: Partial<RecordAgreement['measurement']> = {}): RecordAgreement => ({
  type: 'RecordAgreement',
  measurement: { datasetId: 'ds-1', dimension: 'sex', group: 'female', kappa, images, window: 12, minKappa: 0.6, reviews, ...over },
});
const measured = (command: RecordAgreement, state: 'below' | 'at-or-above'): GroupAgreementMeasured => ({ type: 'GroupAgreementMeasured', data: { ...command.measurement, state } });

describe('group agreement decider: recorded only when a group changes state', () => {
  it('records a first measurement only when it is below', () => {
    given(agreementDecider, []).when(measure(0.2)).then([measured(measure(0.2), 'below')]);
    given(agreementDecider, []).when(measure(0.9)).then([]);
  });

  it('records nothing while the state holds, and each crossing either way', () => {
    const below = measured(measure(0.1), 'below');
    given(agreementDecider, [below]).when(measure(0.3)).then([]);
    given(agreementDecider, [below]).when(measure(0.6)).then([measured(measure(0.6), 'at-or-above')]);
    given(agreementDecider, [below, measured(measure(0.8), 'at-or-above')]).when(measure(0.9)).then([]);
    given(agreementDecider, [below, measured(measure(0.8), 'at-or-above')]).when(measure(0.59)).then([measured(measure(0.59), 'below')]);
  });

  it('keeps groups and dimensions apart', () => {
    const below = measured(measure(0.1), 'below');
    const male = measure(0.1, 12, { group: 'male' });
    given(agreementDecider, [below]).when(male).then([measured(male, 'below')]);
    const band = measure(0.1, 12, { dimension: 'ageBand', group: 'female' });
    given(agreementDecider, [below]).when(band).then([measured(band, 'below')]);
  });

  it('says nothing on no kappa, fewer than 10 rated images, or a kappa that is not a number', () => {
    given(agreementDecider, []).when(measure(null)).then([]);
    given(agreementDecider, []).when(measure(0.1, 9)).then([]);
    given(agreementDecider, [measured(measure(0.1), 'below')]).when(measure(0.9, 9)).then([]);
    expect(agreementStateOf({ kappa: Number.NaN, images: 50, minKappa: 0.6 })).toBeNull();
    expect(agreementStateOf({ kappa: 0.6, images: 10, minKappa: 0.6 })).toBe('at-or-above');
  });
});
