import { groupAgreement, MIN_AGREEMENT_IMAGES } from './quality.js';

/** Ratings of `n` images by two annotators: they agree on the first `agree`, and disagree on the rest. */
function ratings(prefix: string, n: number, agree: number): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (let i = 0; i < n; i++) {
    const label = i % 2 ? 'nodule' : 'mass';
    out.set(`${prefix}-${i}`, new Map([['ann-1', label], ['ann-2', i < agree ? label : label === 'mass' ? 'nodule' : 'mass']]));
  }
  return out;
}

describe('annotator agreement per demographic group', () => {
  it('agreeing annotators: kappa 1, not flagged; Cohen per pair alongside', () => {
    const r = ratings('a', 12, 12);
    const g = groupAgreement(r, new Set(r.keys()), 0.6);
    expect(g).toMatchObject({ images: 12, fleissKappa: 1, flagged: false });
    expect(g.pairs).toEqual([{ annotators: ['ann-1', 'ann-2'], images: 12, cohensKappa: 1 }]);
  });

  it('a group where annotators disagree is flagged under the minimum, another in the same dataset is not', () => {
    const r = new Map([...ratings('good', 12, 12), ...ratings('bad', 12, 6)]);
    const bad = groupAgreement(r, new Set([...r.keys()].filter((k) => k.startsWith('bad'))), 0.6);
    const good = groupAgreement(r, new Set([...r.keys()].filter((k) => k.startsWith('good'))), 0.6);
    expect(bad.flagged).toBe(true);
    expect(bad.fleissKappa).toBeLessThan(0.6);
    expect(good.flagged).toBe(false);
  });

  it('fewer than ten images rated twice: no kappa, no flag (too few to judge); single-rated images do not count', () => {
    const r = ratings('few', MIN_AGREEMENT_IMAGES - 1, 0);
    r.set('solo', new Map([['ann-1', 'mass']]));
    expect(groupAgreement(r, new Set(r.keys()), 0.6)).toEqual({ images: MIN_AGREEMENT_IMAGES - 1, fleissKappa: null, pairs: [], flagged: false });
  });
});
