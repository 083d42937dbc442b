import { seededRandom } from '@custos/testing';
import { type PatientContribution, releaseCells, releaseParts, type TrueCell, trueCells } from './balance.js';
import { scaleFor } from './dlap.js';
import { groupDomains } from './groups.js';
import type { ReleasedCell } from './privacy.events.js';

/**
 * Membership (issue 20 §5): two datasets D and D′ = D plus one patient give release
 * distributions within the ε bound. For every output o with enough mass under both,
 * ln(P̂(o|D)/P̂(o|D′)) stays within ±ε_part, give or take sampling error. The tolerance is the
 * binomial error of the log of a frequency, sd(ln p̂) ≈ √((1 − p)/(n·p)) ≤ 1/√(count), so a
 * difference of two has sd ≤ √(1/n_o + 1/n′_o); we allow 4.5 of those (about twenty outputs
 * are compared per part, so a false alarm has probability ~10^−4). Only the cell the patient
 * joins is released here: every other cell is the same in D and D′ and noised independently,
 * so its output distribution is identical and the ratio over it is 1.
 */

const domains = groupDomains(['asian', 'black', 'white']);
const labels = ['nodule', 'effusion'] as const;
const clips = { images: 20, annotations: 50 };
const by = ['sex'] as const;
const RELEASES = 100_000;

function hospital(): PatientContribution[] {
  const rng = seededRandom(2020);
  const sexes = ['female', 'male', 'other', 'unknown'];
  return Array.from({ length: 600 }, () => ({
    groups: { sex: sexes[rng.below(4)] as string, ageBand: 'unknown', ethnicity: 'unknown' },
    images: rng.below(40),
    annotations: { nodule: rng.below(40), effusion: rng.below(40) },
  }));
}

/** The one patient D′ adds: far beyond both clips, the worst case for images and annotations. */
const extra: PatientContribution = { groups: { sex: 'female', ageBand: '65+', ethnicity: 'asian' }, images: 500, annotations: { nodule: 300, effusion: 300 } };

function femaleCell(patients: PatientContribution[]): TrueCell {
  const cell = trueCells(patients, by, domains, labels, clips).find((c) => c.group.sex === 'female');
  if (!cell) throw new Error('no female cell');
  return cell;
}

function histogram(outputs: readonly ReleasedCell[], pick: (c: ReleasedCell) => number, width: number): Map<number, number> {
  const h = new Map<number, number>();
  for (const o of outputs) {
    const bin = Math.floor(pick(o) / width);
    h.set(bin, (h.get(bin) ?? 0) + 1);
  }
  return h;
}

/** The largest |ln ratio| over outputs with at least `minCount` under both, and whether each stays within the bound plus its tolerance. */
function worstRatio(a: Map<number, number>, b: Map<number, number>, epsilon: number, minCount = 1000): { worst: number; within: boolean; compared: number } {
  let worst = 0;
  let within = true;
  let compared = 0;
  for (const [o, na] of a) {
    const nb = b.get(o) ?? 0;
    if (na < minCount || nb < minCount) continue;
    compared += 1;
    const logRatio = Math.abs(Math.log(na / nb));
    worst = Math.max(worst, logRatio);
    if (logRatio > epsilon + 4.5 * Math.sqrt(1 / na + 1 / nb)) within = false;
  }
  return { worst, within, compared };
}

describe('membership: D and D′ = D plus one patient', () => {
  const D = hospital();
  const cellD = femaleCell(D);
  const cellD2 = femaleCell([...D, extra]);
  const epsilonMicros = 1_000_000;
  const parts = releaseParts(epsilonMicros, clips);
  const releasesOf = (cell: TrueCell, seed: number, p = parts): ReleasedCell[] => {
    const rng = seededRandom(seed);
    const out: ReleasedCell[] = [];
    for (let i = 0; i < RELEASES; i++) out.push(...releaseCells([cell], p, labels, rng));
    return out;
  };
  const fromD = releasesOf(cellD, 1);
  const fromD2 = releasesOf(cellD2, 2);

  it('the true counts differ by at most the sensitivities (the clips hold)', () => {
    expect(cellD2.patients - cellD.patients).toBe(1);
    expect(cellD2.images - cellD.images).toBe(clips.images);
    const annotations = labels.reduce((s, l) => s + ((cellD2.annotations[l] ?? 0) - (cellD.annotations[l] ?? 0)), 0);
    expect(annotations).toBe(clips.annotations);
  });

  it('patients part: every output within e^{±ε/2}, and the bound is reached (the test can see a violation)', () => {
    const eps = parts.patients.epsilonMicros / 1e6;
    const r = worstRatio(histogram(fromD, (c) => c.patients, 1), histogram(fromD2, (c) => c.patients, 1), eps);
    expect(r.compared).toBeGreaterThanOrEqual(8);
    expect(r.within).toBe(true);
    expect(r.worst).toBeGreaterThan(eps * 0.9); // DLap reaches e^{ε} exactly on one side of the shift
  });

  it('images part (clip 20): within e^{±ε/4} over outputs binned by 10 (binning is post-processing)', () => {
    const eps = parts.images.epsilonMicros / 1e6;
    const r = worstRatio(histogram(fromD, (c) => c.images, 10), histogram(fromD2, (c) => c.images, 10), eps);
    expect(r.compared).toBeGreaterThanOrEqual(8);
    expect(r.within).toBe(true);
    expect(r.worst).toBeGreaterThan(eps * 0.6);
  });

  it('annotations part (clip 50 over all labels): the labels’ total within e^{±ε/4}, binned by 25', () => {
    const eps = parts.annotations.epsilonMicros / 1e6;
    const total = (c: ReleasedCell): number => labels.reduce((s, l) => s + (c.annotations[l] ?? 0), 0);
    const r = worstRatio(histogram(fromD, total, 25), histogram(fromD2, total, 25), eps);
    expect(r.compared).toBeGreaterThanOrEqual(8);
    expect(r.within).toBe(true);
  });

  it('a release that forgot the split (all of ε on the patient count) breaks the part’s bound, and the test says so', () => {
    const wrong = { ...parts, patients: { ...parts.patients, scale: scaleFor(1, epsilonMicros) } };
    const a = releasesOf(cellD, 3, wrong);
    const b = releasesOf(cellD2, 4, wrong);
    const r = worstRatio(histogram(a, (c) => c.patients, 1), histogram(b, (c) => c.patients, 1), parts.patients.epsilonMicros / 1e6);
    expect(r.within).toBe(false);
    expect(r.worst).toBeGreaterThan(0.9);
  });
});

describe('the release’s ε accounting', () => {
  it.each([4, 5, 7, 100_001, 333_333, 1_000_000, 999_999])('parts sum to ε exactly (%d micro-epsilon), each scale Δ/ε_part', (micros) => {
    const p = releaseParts(micros, clips);
    expect(p.patients.epsilonMicros + p.images.epsilonMicros + p.annotations.epsilonMicros).toBe(micros);
    expect(p.patients.sensitivity).toBe(1);
    expect(p.images.sensitivity).toBe(clips.images);
    expect(p.annotations.sensitivity).toBe(clips.annotations);
    for (const part of [p.patients, p.images, p.annotations]) {
      expect(part.epsilonMicros).toBeGreaterThan(0);
      expect(part.scale).toEqual(scaleFor(part.sensitivity, part.epsilonMicros));
      // the worst-case privacy loss of the part: sensitivity/σ = ε_part
      expect((part.sensitivity * part.scale.den) / part.scale.num).toBeCloseTo(part.epsilonMicros / 1e6, 12);
    }
  });

  it('refuses an ε too small to split', () => {
    expect(() => releaseParts(3, clips)).toThrow(RangeError);
    expect(() => releaseParts(0, clips)).toThrow(RangeError);
    expect(() => releaseParts(1.5, clips)).toThrow(RangeError);
  });
});
