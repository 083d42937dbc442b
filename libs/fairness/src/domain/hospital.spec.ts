import { seededRandom } from '@custos/testing';
import { type PatientContribution, releaseCells, releaseParts, trueCells } from './balance.js';
import { type Dimension, groupDomains } from './groups.js';
import { flagsOf, labelPrevalence, representation } from './representation.js';
import type { RandomSource } from './random.js';

/**
 * A seeded hospital of 20,000 synthetic patients, end to end through the pure core:
 * true counts → noisy release at ε = 1 → representation against a reference population.
 * A group planted at half its reference share is flagged; a balanced control is not.
 */
const ETHNICITY = ['asian', 'black', 'hispanic', 'white', 'other', 'unknown'];
const domains = groupDomains(ETHNICITY);
const labels = ['nodule', 'effusion'];
const clips = { images: 20, annotations: 20 };
const reference = {
  ethnicity: { asian: 0.1, black: 0.2, hispanic: 0.1, white: 0.5, other: 0.05, unknown: 0.05 },
  sex: { female: 0.5, male: 0.5 },
};

/** Draw a group from shares (integers only: shares in 1/1000). */
function pick(shares: Readonly<Record<string, number>>, rng: RandomSource): string {
  const entries = Object.entries(shares);
  let x = rng.below(1000);
  for (const [g, s] of entries) {
    x -= Math.round(s * 1000);
    if (x < 0) return g;
  }
  return (entries[entries.length - 1] as [string, number])[0];
}

function hospital(seed: number, blackShare: number, n = 20_000): PatientContribution[] {
  const rng = seededRandom(seed);
  const shares = { ...reference.ethnicity, black: blackShare, white: reference.ethnicity.white + (reference.ethnicity.black - blackShare) };
  return Array.from({ length: n }, () => ({
    groups: { sex: pick(reference.sex, rng), ageBand: domains.ageBand[rng.below(4)] as string, ethnicity: pick(shares, rng) },
    images: 1 + rng.below(4),
    annotations: { nodule: rng.below(3), effusion: rng.below(2) },
  }));
}

function report(patients: readonly PatientContribution[], seed: number) {
  const by: Dimension[] = ['sex', 'ethnicity'];
  const parts = releaseParts(1_000_000, clips);
  const cells = releaseCells(trueCells(patients, by, domains, labels, clips), parts, labels, seededRandom(seed + 7919));
  const rep = representation(cells, parts, reference, 0.8);
  const prevalence = labelPrevalence(cells, parts, by, { sex: domains.sex, ethnicity: domains.ethnicity }, labels, 0.8);
  return { rep, flags: flagsOf(rep, prevalence) };
}

describe('a seeded hospital of 20,000 patients at ε = 1', () => {
  it.each([1, 2, 3, 4, 5])('seed %i: the group planted at half its reference share is flagged, and only it', (seed) => {
    const { rep, flags } = report(hospital(seed, 0.1), seed);
    const black = rep.find((r) => r.dimension === 'ethnicity' && r.group === 'black');
    expect(black?.flagged).toBe(true);
    expect(black?.interval[1]).toBeLessThan(0.8);
    expect(black?.ratio).toBeGreaterThan(0.4);
    expect(black?.ratio).toBeLessThan(0.6);
    expect(flags.filter((f) => f.kind === 'representation')).toEqual([{ kind: 'representation', dimension: 'ethnicity', group: 'black', interval: black?.interval }]);
  });

  it.each([11, 12, 13, 14, 15])('seed %i: a balanced control flags nothing', (seed) => {
    const { rep, flags } = report(hospital(seed, reference.ethnicity.black), seed);
    expect(rep.length).toBeGreaterThan(0);
    expect(flags).toEqual([]);
  });
});
