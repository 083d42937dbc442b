import { CustosError } from '@custos/errors';
import { loadConfig } from '@custos/platform';
import { given } from '@custos/testing';
import { ReportGate, balanceQuery } from './balance.handlers.js';
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
    expect(balanceQuery('0.01', 'sex', fairness).epsilonMicros).toBe(10_000); // DP_EPSILON_MIN_PER_RELEASE, default 0.01
  });

  it.each([undefined, null, 0.5, ['0.5'], '', '0', '-1', 'abc', '1e-3', '0.1234567', 'NaN', 'Infinity', ' 0.5', '0.5 ', '1.000001', '0.000003', '0.009999', '0.000004', '00.5', '01', '+0.5', '.5', '0x1', '５', '99999999999999999999'])('refuses epsilon %p (bad-epsilon, naming the field)', (epsilon) => {
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
    ['s', { sex: { female: 1e-320, male: 1 } }, 'shares.sex.female'],
    ['s', { sex: { female: 0.00009, male: 0.99991 } }, 'shares.sex.female'],
    ['\u200b', { sex: { female: 1 } }, 'source'],
    ['\u2800\u3164', { sex: { female: 1 } }, 'source'],
    ['s', { ageBand: { '0-17': 0.2, '18-39': 0.2 } }, 'shares.ageBand'],
  ])('refuses source %p shares %p (bad-reference on %s)', (source, shares, field) => {
    expect(codeOf(() => checkReference(source, shares, groups))).toBe(`bad-reference:${field}`);
  });
});

describe('the report gate', () => {
  it('runs two at once, queues the next, refuses beyond the queue with reports-busy, and passes slots on', async () => {
    const gate = new ReportGate(2, 1);
    const release: Array<() => void> = [];
    const started: number[] = [];
    const job = (i: number) => () =>
      new Promise<number>((resolve) => {
        started.push(i);
        release.push(() => resolve(i));
      });
    const a = gate.run(job(1));
    const b = gate.run(job(2));
    const c = gate.run(job(3)); // queued
    await expect(gate.run(job(4))).rejects.toMatchObject({ code: 'reports-busy', status: 503 });
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2]);
    release.shift()?.();
    expect(await a).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3]);
    release.shift()?.();
    release.shift()?.();
    expect(await Promise.all([b, c])).toEqual([2, 3]);
    expect(await gate.run(async () => 5)).toBe(5);
  });
});
