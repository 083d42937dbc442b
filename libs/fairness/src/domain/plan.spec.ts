import { seededRandom } from '@custos/testing';
import { cellsOf, releaseCells, releaseParts, type TrueCell } from './balance.js';
import { discreteLaplacePmf, noiseHalfWidth, noiseStandardDeviation, scaleFor, scaleValue } from './dlap.js';
import { groupDomains } from './groups.js';
import { expectedAbsoluteNoise, expectedRelativeError, flagged, flagProbability, flipProbability, PLAN_RATIOS, planFor } from './plan.js';
import type { ReleasedCell } from './privacy.events.js';
import { representation, sumHalfWidth } from './representation.js';

const domains = groupDomains(['asian', 'black', 'white', 'other', 'unknown']);
const clips = { images: 20, annotations: 50 };

describe('expected relative error', () => {
  it.each([0.5, 1, 2, 10, 40])('E|Z| = 2q/((1−q)(1+q)) agrees with Σ|z|·pmf(z) at σ = %d', (sigma) => {
    let sum = 0;
    for (let z = -Math.ceil(80 * sigma); z <= Math.ceil(80 * sigma); z++) sum += Math.abs(z) * discreteLaplacePmf(z, sigma);
    expect(expectedAbsoluteNoise(sigma)).toBeCloseTo(sum, 9);
  });

  it('is E|Z|/count, and null for an empty or negative count', () => {
    const scale = scaleFor(1, 500_000); // σ = 2
    expect(expectedRelativeError(100, scale)).toBeCloseTo(expectedAbsoluteNoise(2) / 100, 12);
    expect(expectedRelativeError(0, scale)).toBeNull();
    expect(expectedRelativeError(-3, scale)).toBeNull();
    expect(expectedRelativeError(Number.NaN, scale)).toBeNull();
  });
});

describe('flagged is the flag rule of representation()', () => {
  it('agrees with representation() on 3000 random releases', () => {
    const rng = seededRandom(11);
    const cells = cellsOf(['sex'], domains);
    for (let trial = 0; trial < 3000; trial++) {
      const epsilonMicros = 4 + rng.below(2_000_000);
      const parts = releaseParts(epsilonMicros, clips);
      const released: ReleasedCell[] = cells.map((group) => ({ group, patients: rng.below(400) - 40, images: 0, annotations: {} }));
      const shares = { female: (1 + rng.below(99)) / 100, male: (1 + rng.below(99)) / 100 };
      const minRatio = 0.5 + rng.below(50) / 100;
      const rep = representation(released, parts, { sex: shares }, minRatio);
      const total = released.reduce((s, c) => s + c.patients, 0);
      for (const r of rep) {
        const mine = released.filter((c) => c.group.sex === r.group);
        const g = mine.reduce((s, c) => s + c.patients, 0);
        const expected = flagged(g, total, sumHalfWidth(parts.patients.scale, mine.length), sumHalfWidth(parts.patients.scale, released.length), r.referenceShare, minRatio);
        expect(r.flagged).toBe(expected);
      }
    }
  });
});

describe('flagProbability', () => {
  const question = { referenceShare: 0.1, total: 2000, groupCells: 1, totalCells: 5, scale: scaleFor(1, 500_000), minRatio: 0.8 };

  it('is reproducible: the same question, the same answer', () => {
    expect(flagProbability({ ...question, trueRatio: 0.7 })).toBe(flagProbability({ ...question, trueRatio: 0.7 }));
  });

  it('is near 1 far under the minimum, near 0 at parity, and falls as the ratio rises', () => {
    expect(flagProbability({ ...question, trueRatio: 0.3 })).toBeGreaterThan(0.99);
    expect(flagProbability({ ...question, trueRatio: 1 })).toBeLessThan(0.01);
    const curve = PLAN_RATIOS.map((trueRatio) => flagProbability({ ...question, trueRatio }));
    for (let i = 1; i < curve.length; i++) expect(curve[i] as number).toBeLessThanOrEqual((curve[i - 1] as number) + 1e-12);
  });

  it('more noise, fewer flags of a truly under-represented group', () => {
    // The patients part's ε (half the release's): at ratio 0.66, about 0.05, 0.5 and 1.
    const at = (epsilonMicros: number): number => flagProbability({ ...question, scale: scaleFor(1, epsilonMicros), trueRatio: 0.66 });
    expect(at(50_000)).toBeLessThan(0.2);
    expect(at(50_000)).toBeLessThan(at(125_000));
    expect(at(125_000)).toBeLessThan(at(500_000));
    expect(at(500_000)).toBeGreaterThan(0.95);
  });

  it('matches releases through the exact sampler and representation() within sampling error', () => {
    // The plan draws the noise as a difference of geometric variables (floating point, public
    // parameters); a release draws it exactly. Same distribution: the frequencies must agree.
    const by = ['ageBand'] as const;
    const cells = cellsOf(by, domains);
    const parts = releaseParts(500_000, clips);
    const trueRatio = 0.73; // near the edge at this ε: the probability is far from 0 and 1
    const groupCount = Math.round(trueRatio * 0.1 * 2000);
    const rest = 2000 - groupCount;
    const truth: TrueCell[] = cells.map((group, i) => ({ group, patients: group.ageBand === '65+' ? groupCount : Math.floor(rest / 4) + (i < rest % 4 ? 1 : 0), images: 0, annotations: {} }));
    expect(truth.reduce((s, c) => s + c.patients, 0)).toBe(2000);
    const rng = seededRandom(21);
    const releases = 3000;
    let flags = 0;
    for (let i = 0; i < releases; i++) {
      const released = releaseCells(truth, parts, [], rng);
      if (representation(released, parts, { ageBand: { '65+': 0.1 } }, 0.8).some((r) => r.flagged)) flags += 1;
    }
    const empirical = flags / releases;
    const planned = flagProbability({ ...question, scale: parts.patients.scale, trueRatio }, 20_000);
    expect(planned).toBeGreaterThan(0.1);
    expect(planned).toBeLessThan(0.9);
    const se = Math.sqrt((planned * (1 - planned)) / releases + (planned * (1 - planned)) / 20_000);
    expect(Math.abs(empirical - planned)).toBeLessThan(4 * se);
  });

  it('flipProbability is P(flag) above the minimum and P(no flag) under it', () => {
    expect(flipProbability({ ...question, trueRatio: 1 })).toBe(flagProbability({ ...question, trueRatio: 1 }));
    expect(flipProbability({ ...question, trueRatio: 0.5 })).toBeCloseTo(1 - flagProbability({ ...question, trueRatio: 0.5 }), 12);
  });

  it('refuses questions that make no sense', () => {
    for (const bad of [{ referenceShare: 0 }, { referenceShare: 1.5 }, { trueRatio: -1 }, { trueRatio: Number.POSITIVE_INFINITY }, { total: -5 }, { total: 1.5 }, { groupCells: 0 }, { groupCells: 6 }]) {
      expect(() => flagProbability({ ...question, trueRatio: 1, ...bad })).toThrow(RangeError);
    }
  });
});

describe('planFor', () => {
  it('gives each part its scale, sd and 95% half-width, the parts summing to ε', () => {
    const plan = planFor({ epsilonMicros: 1_000_000, clips, by: ['sex'], domains, minRatio: 0.8 });
    const { patients, images, annotations } = plan.parts;
    expect(patients.epsilonMicros + images.epsilonMicros + annotations.epsilonMicros).toBe(1_000_000);
    expect(patients.scale).toEqual({ num: 2, den: 1 });
    expect(images.scale).toEqual(scaleFor(20, 250_000));
    expect(annotations.sensitivity).toBe(50);
    expect(patients.sd).toBeCloseTo(noiseStandardDeviation(2), 12);
    expect(patients.halfWidth95).toBe(noiseHalfWidth(2));
    expect(plan.cells).toBeNull();
    expect(plan.groups).toEqual([]);
  });

  it('with estimates: the expected relative error per cell and per reference group the flip probability and the curve', () => {
    const by = ['sex', 'ageBand'] as const;
    const cells = cellsOf(by, domains);
    const estimatedCells = cells.map((c) => (c.sex === 'female' ? 30 : c.sex === 'male' ? 60 : 2));
    const plan = planFor({ epsilonMicros: 1_000_000, clips, by, domains, estimatedCells, reference: { sex: { female: 0.5, male: 0.5 }, ethnicity: { asian: 0.2 } }, minRatio: 0.8 });
    expect(plan.cells).toHaveLength(20);
    expect(plan.cells?.[0]?.expectedRelativeError).toBeCloseTo(expectedAbsoluteNoise(scaleValue(plan.parts.patients.scale)) / 30, 12);
    expect(plan.total).toBe(estimatedCells.reduce((s, e) => s + e, 0));
    expect(plan.groups.map((g) => g.group)).toEqual(['female', 'male']); // ethnicity was not asked
    const female = plan.groups[0];
    expect(female?.estimatedRatio).toBeCloseTo(150 / 470 / 0.5, 12);
    expect(female?.underMinimum).toBe(true);
    expect(female?.curve.map((p) => p.ratio)).toEqual(PLAN_RATIOS);
    expect(female?.flipProbability).toBeGreaterThanOrEqual(0);
    expect(female?.flipProbability).toBeLessThanOrEqual(1);
    expect(plan.groups[1]?.underMinimum).toBe(false);
    expect(plan.method).toMatch(/Monte Carlo/);
  });

  it('refuses estimates of the wrong shape', () => {
    const base = { epsilonMicros: 500_000, clips, by: ['sex'] as const, domains, minRatio: 0.8 };
    expect(() => planFor({ ...base, estimatedCells: [1, 2, 3] })).toThrow(RangeError);
    expect(() => planFor({ ...base, estimatedCells: [1, 2, 3, -4] })).toThrow(RangeError);
    expect(() => planFor({ ...base, estimatedCells: [1, 2, 3, 0.5] })).toThrow(RangeError);
    expect(() => planFor({ ...base, total: -1 })).toThrow(RangeError);
    expect(() => planFor({ ...base, epsilonMicros: 0 })).toThrow(RangeError);
    expect(() => planFor({ ...base, minRatio: Number.NaN })).toThrow(RangeError);
    expect(() => planFor({ ...base, minRatio: -1 })).toThrow(RangeError);
    expect(() => planFor({ ...base, draws: 0 })).toThrow(RangeError);
    expect(() => planFor({ ...base, total: 100, reference: { sex: { female: 1.5 } } })).toThrow(RangeError);
    expect(() => flagProbability({ trueRatio: 1, referenceShare: 0.1, total: 100, groupCells: 1, totalCells: 4, scale: scaleFor(1, 500_000), minRatio: 0.8 }, 0)).toThrow(RangeError);
  });

  it('three dimensions: every reference group judged over its own cells of one set of simulated releases', () => {
    const by = ['sex', 'ageBand', 'ethnicity'] as const;
    const cells = cellsOf(by, domains);
    const estimatedCells = cells.map((c) => (c.ethnicity === 'black' ? 2 : 25));
    const reference = { sex: { female: 0.5, male: 0.5 }, ethnicity: { asian: 0.2, black: 0.2 } };
    const plan = planFor({ epsilonMicros: 1_000_000, clips, by, domains, estimatedCells, reference, minRatio: 0.8 });
    expect(plan.cells).toHaveLength(100);
    const black = plan.groups.find((g) => g.group === 'black');
    expect(black?.estimatedRatio).toBeCloseTo(40 / (plan.total as number) / 0.2, 12);
    expect(black?.underMinimum).toBe(true);
    expect(black?.flipProbability).toBeLessThan(0.05); // 40 of 2040 against 20%: flagged whatever the noise
    const asian = plan.groups.find((g) => g.group === 'asian');
    expect(asian?.underMinimum).toBe(false);
    expect(asian?.flipProbability).toBeLessThan(0.05);
  });

  it('a total without estimates gives the curves only', () => {
    const plan = planFor({ epsilonMicros: 100_000, clips, by: ['ethnicity'], domains, total: 2000, reference: { ethnicity: { asian: 0.1, black: 0.1 } }, minRatio: 0.8 });
    expect(plan.groups).toHaveLength(2);
    expect(plan.groups[0]?.flipProbability).toBeNull();
    expect(plan.groups[0]?.curve).toHaveLength(15);
  });
});
