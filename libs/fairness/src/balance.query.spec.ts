import { CustosError } from '@custos/errors';
import { loadConfig } from '@custos/platform';
import { given } from '@custos/testing';
import { balanceQuery } from './balance.handlers.js';
import { checkReference, referenceDecider } from './domain/reference.decide.js';

const fairness = loadConfig({ DATA_DIR: 'memory://' }).fairness;
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof CustosError ? `${e.code}:${String(e.details?.field)}` : String(e);
  }
  return undefined;
};

describe('a balance query, checked before anything is read or spent', () => {
  it('takes ε as a decimal in micro-ε and one to three distinct dimensions', () => {
    expect(balanceQuery('0.5', 'sex,ageBand,ethnicity', fairness)).toEqual({ epsilonMicros: 500_000, by: ['sex', 'ageBand', 'ethnicity'] });
    expect(balanceQuery('1', 'ethnicity', fairness)).toEqual({ epsilonMicros: 1_000_000, by: ['ethnicity'] });
    expect(balanceQuery('0.000004', 'sex', fairness).epsilonMicros).toBe(4);
  });

  it.each([undefined, null, 0.5, ['0.5'], '', '0', '-1', 'abc', '1e-3', '0.1234567', 'NaN', 'Infinity', ' 0.5', '0.5 ', '1.000001', '0.000003', '99999999999999999999'])('refuses epsilon %p (bad-epsilon, naming the field)', (epsilon) => {
    expect(codeOf(() => balanceQuery(epsilon, 'sex', fairness))).toBe('bad-epsilon:epsilon');
  });

  it.each([undefined, null, ['sex'], '', 'race', 'sex,sex', 'sex,', ',sex', 'sex,ageBand,ethnicity,sex', 'Sex', 'sex, ageBand'])('refuses by %p (bad-by, naming the field)', (by) => {
    expect(codeOf(() => balanceQuery('0.5', by, fairness))).toBe('bad-by:by');
  });
});

describe('reference population decider', () => {
  const groups = fairness.ethnicityGroups;
  const ref = { datasetId: 'ds-1', source: 'census', shares: { sex: { female: 0.5, male: 0.5 } } };

  it('records a valid reference, and nothing when unchanged', () => {
    given(referenceDecider, []).when({ type: 'SetReference', reference: ref, ethnicityGroups: groups }).then([{ type: 'ReferencePopulationSet', data: ref }]);
    given(referenceDecider, [{ type: 'ReferencePopulationSet', data: ref }]).when({ type: 'SetReference', reference: ref, ethnicityGroups: groups }).then([]);
  });

  it('accepts sums within 0.001 of 1, refuses beyond', () => {
    expect(codeOf(() => checkReference('s', { sex: { female: 0.5005, male: 0.5 } }, groups))).toBeUndefined();
    expect(codeOf(() => checkReference('s', { sex: { female: 0.502, male: 0.5 } }, groups))).toBe('bad-reference:shares.sex');
  });

  it.each<[unknown, unknown, string]>([
    ['', { sex: { female: 1 } }, 'source'],
    ['   ', { sex: { female: 1 } }, 'source'],
    [7, { sex: { female: 1 } }, 'source'],
    ['x'.repeat(201), { sex: { female: 1 } }, 'source'],
    ['s', null, 'shares'],
    ['s', [], 'shares'],
    ['s', {}, 'shares'],
    ['s', { height: { tall: 1 } }, 'shares.height'],
    ['s', { sex: 1 }, 'shares.sex'],
    ['s', { sex: {} }, 'shares.sex'],
    ['s', { sex: { alien: 1 } }, 'shares.sex'],
    ['s', { ethnicity: { martian: 1 } }, 'shares.ethnicity'],
    ['s', { sex: { female: Number.NaN, male: 1 } }, 'shares.sex.female'],
    ['s', { sex: { female: Number.POSITIVE_INFINITY } }, 'shares.sex.female'],
    ['s', { sex: { female: -0.5, male: 1.5 } }, 'shares.sex.female'],
    ['s', { sex: { female: 0, male: 1 } }, 'shares.sex.female'],
    ['s', { ageBand: { '0-17': 0.2, '18-39': 0.2 } }, 'shares.ageBand'],
  ])('refuses source %p shares %p (bad-reference on %s)', (source, shares, field) => {
    expect(codeOf(() => checkReference(source, shares, groups))).toBe(`bad-reference:${field}`);
  });
});
