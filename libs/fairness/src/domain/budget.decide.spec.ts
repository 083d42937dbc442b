import { given } from '@custos/testing';
import { ForbiddenError } from '@custos/errors';
import { budgetDecider, remainingOf } from './budget.decide.js';
import { releaseParts } from './balance.js';
import type { BalanceReleased, BalanceReleasedData } from './privacy.events.js';

const caps = { perRequester: 1_000_000, perDataset: 1_500_000 };
const release = (requester: string, epsilonMicros: number, n = 1): BalanceReleasedData => ({
  releaseId: `r-${requester}-${n}`,
  datasetId: 'ds-1',
  requester,
  query: { by: ['sex'], epsilon: String(epsilonMicros / 1e6) },
  epsilonMicros,
  mechanism: 'discrete-laplace',
  parts: releaseParts(epsilonMicros, { images: 20, annotations: 20 }),
  groups: { sex: ['female', 'male', 'other', 'unknown'] },
  labels: ['nodule'],
  cells: [],
  asOfSequence: 0,
  referenceVersion: null,
  flagged: [],
  caps,
});
const released = (data: BalanceReleasedData): BalanceReleased => ({ type: 'BalanceReleased', data });

describe('budget decider', () => {
  it('given nothing spent, when a release within both caps, then BalanceReleased', () => {
    const r = release('alice', 500_000);
    given(budgetDecider, []).when({ type: 'Release', release: r }).then([released(r)]);
  });

  it('given the requester spent 0.6, when 0.5 more, then refused privacy-budget-exhausted with what is left as decimals', () => {
    const state = [released(release('alice', 600_000))].reduce(budgetDecider.evolve, budgetDecider.initialState);
    let thrown: unknown;
    try {
      budgetDecider.decide({ type: 'Release', release: release('alice', 500_000, 2) }, state);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ForbiddenError);
    expect((thrown as ForbiddenError).code).toBe('privacy-budget-exhausted');
    expect((thrown as ForbiddenError).details).toEqual({ requested: '0.5', remaining: { requester: '0.4', dataset: '0.9' } });
  });

  it('given exactly the requester cap left, when that much, then recorded (the cap is reachable, not exceeded)', () => {
    const r = release('alice', 400_000, 2);
    given(budgetDecider, [released(release('alice', 600_000))]).when({ type: 'Release', release: r }).then([released(r)]);
  });

  it('given others spent the dataset cap, when a fresh requester asks, then refused on the dataset budget', () => {
    given(budgetDecider, [released(release('alice', 1_000_000)), released(release('bob', 500_000))])
      .when({ type: 'Release', release: release('carol', 4) })
      .thenFails('privacy-budget-exhausted');
  });

  it('folds the ledger: spent per requester and in total, remaining never negative', () => {
    const state = [released(release('alice', 300_000)), released(release('bob', 200_000)), released(release('alice', 100_000, 2))].reduce(budgetDecider.evolve, budgetDecider.initialState);
    expect(state).toEqual({ spentBy: { alice: 400_000, bob: 200_000 }, spent: 600_000, releases: 3 });
    expect(remainingOf(state, 'alice', caps)).toEqual({ requester: 600_000, dataset: 900_000 });
    expect(remainingOf(state, 'alice', { perRequester: 100_000, perDataset: 100_000 })).toEqual({ requester: 0, dataset: 0 });
  });

  it('the caps are the ones the release carries: a lowered cap refuses what the old one allowed', () => {
    const lowered = { ...release('alice', 300_000, 2), caps: { perRequester: 500_000, perDataset: 1_500_000 } };
    given(budgetDecider, [released(release('alice', 300_000))]).when({ type: 'Release', release: lowered }).thenFails('privacy-budget-exhausted');
  });
});
