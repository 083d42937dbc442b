import { type Clips, cellsOf, type GroupCell, releaseParts } from './balance.js';
import { noiseHalfWidth, noiseStandardDeviation, type Scale, scaleValue } from './dlap.js';
import type { Dimension } from './groups.js';
import { sumHalfWidth } from './representation.js';

/**
 * Planning a balance report before any ε is spent: what the noise will do to the counts and to
 * the flags, from public parameters only (ε, clips, the groups asked, a reference population,
 * and counts the steward supplies as an estimate). Nothing here reads the dataset, so a plan
 * spends nothing. Floating point is fine: no private value enters.
 */

/** E|Z| for Z ~ DLap(σ): 2q/((1 − q)(1 + q)), q = e^{−1/σ}. */
export function expectedAbsoluteNoise(sigma: number): number {
  const q = Math.exp(-1 / sigma);
  return (2 * q) / ((1 - q) * (1 + q));
}

/** The expected relative error E|Z|/count of a noisy count; null for a count of 0 or less (no relative error to speak of). */
export function expectedRelativeError(count: number, scale: Scale): number | null {
  if (!(count > 0)) return null;
  return expectedAbsoluteNoise(scaleValue(scale)) / count;
}

/**
 * The flag rule of `representation()`, on the two noisy sums it compares: the group's patients
 * (a sum over `groupCells` cells) and all patients (over `totalCells`). Flagged iff the upper end
 * of the ratio's 95% interval is under `minRatio`. The spec checks it agrees with
 * `representation()` itself on random releases.
 */
export function flagged(groupValue: number, totalValue: number, groupHalfWidth: number, totalHalfWidth: number, referenceShare: number, minRatio: number): boolean {
  const hi = totalValue - totalHalfWidth > 0 ? (groupValue + groupHalfWidth) / (totalValue - totalHalfWidth) / referenceShare : Number.POSITIVE_INFINITY;
  return hi < minRatio;
}

export interface FlagQuestion {
  /** The group's true share of the dataset over its reference share. */
  readonly trueRatio: number;
  readonly referenceShare: number;
  /** Patients in the dataset. */
  readonly total: number;
  /** Cells of the release that belong to the group, and cells in all. */
  readonly groupCells: number;
  readonly totalCells: number;
  /** The patients part's scale. */
  readonly scale: Scale;
  readonly minRatio: number;
}

/** Monte Carlo draws per probability: the standard error of a probability is at most 0.5/√n (0.008 at 4000). */
export const PLAN_DRAWS = 4000;
const PLAN_SEED = 0x5eed_2020;

/**
 * A deterministic uniform in (0, 1) (sfc32, fixed seed): a plan is the same for the same
 * question. Used for public-parameter simulation only, never for a release.
 */
function planUniform(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) next();
  return () => (next() + 0.5) / 2 ** 32;
}

/**
 * `draws` samples of the noise on each of `cells` counts, independent DLap(σ), row by row.
 * DLap(σ) is the difference of two independent geometric variables on {0, 1, …} with
 * P(k) = (1 − q)q^k, q = e^{−1/σ}; each is ⌊ln U / ln q⌋ by inversion.
 */
function cellNoise(cells: number, sigma: number, draws: number, uniform: () => number): Int32Array {
  const { floor, log } = Math; // bound once (a global lookup per draw is slow inside a vm context)
  const lnQ = -1 / sigma;
  const out = new Int32Array(draws * cells);
  for (let i = 0; i < out.length; i++) out[i] = floor(log(uniform()) / lnQ) - floor(log(uniform()) / lnQ);
  return out;
}

/** A release's noise, `draws` times over: drawn once per plan and summed per group (every group of a plan sees the same releases). */
interface ReleaseNoise {
  readonly cells: number;
  readonly draws: number;
  readonly perCell: Int32Array;
  /** Per draw, the noise on the total (all cells). */
  readonly total: Int32Array;
}

function releaseNoise(cells: number, scale: Scale, draws: number): ReleaseNoise {
  const perCell = cellNoise(cells, scaleValue(scale), draws, planUniform(PLAN_SEED ^ cells));
  const total = new Int32Array(draws);
  for (let i = 0; i < draws; i++) {
    let s = 0;
    for (let j = 0; j < cells; j++) s += perCell[i * cells + j] as number;
    total[i] = s;
  }
  return { cells, draws, perCell, total };
}

/** The noise sums of one group's question: its cells' noise and the total's, per draw. */
interface NoiseSample {
  readonly group: Int32Array;
  readonly total: Int32Array;
}

function groupNoise(noise: ReleaseNoise, cellIndexes: readonly number[]): NoiseSample {
  const group = new Int32Array(noise.draws);
  for (let i = 0; i < noise.draws; i++) {
    let s = 0;
    for (const j of cellIndexes) s += noise.perCell[i * noise.cells + j] as number;
    group[i] = s;
  }
  return { group, total: noise.total };
}

function sampleFor(q: Pick<FlagQuestion, 'groupCells' | 'totalCells' | 'scale'>, draws: number): NoiseSample {
  return groupNoise(releaseNoise(q.totalCells, q.scale, draws), Array.from({ length: q.groupCells }, (_, j) => j));
}

function flagProbabilityFrom(q: FlagQuestion, noise: NoiseSample): number {
  const groupCount = Math.round(q.trueRatio * q.referenceShare * q.total);
  const hG = sumHalfWidth(q.scale, q.groupCells);
  const hT = sumHalfWidth(q.scale, q.totalCells);
  let flags = 0;
  for (let i = 0; i < noise.group.length; i++) {
    const g = groupCount + (noise.group[i] as number);
    const t = q.total + (noise.total[i] as number);
    if (flagged(g, t, hG, hT, q.referenceShare, q.minRatio)) flags += 1;
  }
  return flags / noise.group.length;
}

function checkDraws(draws: number): void {
  if (!Number.isSafeInteger(draws) || draws < 1 || draws > 1_000_000) throw new RangeError('draws must be a whole number from 1 to 10^6');
}

function checkQuestion(q: FlagQuestion): void {
  if (!(q.referenceShare > 0 && q.referenceShare <= 1)) throw new RangeError('referenceShare must be in (0, 1]');
  if (!(q.trueRatio >= 0) || !Number.isFinite(q.trueRatio)) throw new RangeError('trueRatio must be a finite number ≥ 0');
  if (!Number.isSafeInteger(q.total) || q.total < 0) throw new RangeError('total must be a whole number ≥ 0');
  if (!Number.isSafeInteger(q.groupCells) || !Number.isSafeInteger(q.totalCells) || q.groupCells < 1 || q.totalCells < q.groupCells) throw new RangeError('cells: 1 ≤ groupCells ≤ totalCells');
}

/**
 * P(representation() flags the group) when its true ratio is `trueRatio`: Monte Carlo over
 * `draws` noise sums (seeded, so reproducible), the flag decided by the same rule and the same
 * half-widths as a release. Standard error ≤ 0.5/√draws.
 */
export function flagProbability(q: FlagQuestion, draws = PLAN_DRAWS): number {
  checkQuestion(q);
  checkDraws(draws);
  return flagProbabilityFrom(q, sampleFor(q, draws));
}

/** The chance the noise gets the flag wrong: P(flag) for a group that is not under `minRatio` (a false flag), P(no flag) for one that is (a missed flag). */
export function flipProbability(q: FlagQuestion, draws = PLAN_DRAWS): number {
  const p = flagProbability(q, draws);
  return q.trueRatio >= q.minRatio ? p : 1 - p;
}

/** The ratios a plan's curve is drawn at: 0.5 to 1.2 in steps of 0.05. */
export const PLAN_RATIOS: readonly number[] = Array.from({ length: 15 }, (_, i) => Math.round((0.5 + 0.05 * i) * 100) / 100);

export interface PlanPart {
  readonly epsilonMicros: number;
  readonly sensitivity: number;
  readonly scale: Scale;
  /** The noise's standard deviation on one count. */
  readonly sd: number;
  /** A noisy count holds the true one within ± this, 95% of the time. */
  readonly halfWidth95: number;
}

export interface PlanCell {
  readonly group: GroupCell;
  /** The steward's estimate of the cell's patients (not read from the data). */
  readonly estimate: number;
  /** E|noise|/estimate on the patient count; null for an estimate of 0. */
  readonly expectedRelativeError: number | null;
}

export interface PlanGroup {
  readonly dimension: Dimension;
  readonly group: string;
  readonly referenceShare: number;
  /** The ratio the estimate implies (null without estimates). */
  readonly estimatedRatio: number | null;
  /** At that ratio: the chance the noise flips the flag (false or missed), null without estimates. */
  readonly flipProbability: number | null;
  /** Whether, at that ratio, the group is under the minimum (the flag a noiseless report would raise). */
  readonly underMinimum: boolean | null;
  /** P(flag) against the true ratio. */
  readonly curve: ReadonlyArray<{ readonly ratio: number; readonly flagProbability: number }>;
}

export interface BalancePlan {
  readonly epsilonMicros: number;
  readonly parts: { readonly patients: PlanPart; readonly images: PlanPart; readonly annotations: PlanPart };
  readonly by: readonly Dimension[];
  readonly cells: readonly PlanCell[] | null;
  /** The patients the flag probabilities assume (the estimates' sum, or the total given). */
  readonly total: number | null;
  readonly minRatio: number;
  readonly groups: readonly PlanGroup[];
  /** How the flag probabilities were computed. */
  readonly method: string;
}

export interface PlanInput {
  readonly epsilonMicros: number;
  readonly clips: Clips;
  readonly by: readonly Dimension[];
  readonly domains: Readonly<Record<Dimension, readonly string[]>>;
  /** Estimated patients per cell, in the order of `cellsOf(by, domains)`; null: none. */
  readonly estimatedCells?: readonly number[] | null;
  /** Patients in the dataset (defaults to the estimates' sum). */
  readonly total?: number | null;
  readonly reference?: Readonly<Partial<Record<Dimension, Readonly<Record<string, number>>>>> | null;
  readonly minRatio: number;
  readonly draws?: number;
}

function partOf(p: { epsilonMicros: number; sensitivity: number; scale: Scale }): PlanPart {
  const sigma = scaleValue(p.scale);
  return { epsilonMicros: p.epsilonMicros, sensitivity: p.sensitivity, scale: p.scale, sd: noiseStandardDeviation(sigma), halfWidth95: noiseHalfWidth(sigma) };
}

/** The plan `GET …/balance/plan` answers: the noise per part, the expected error per cell, and per reference group the chance of a wrong flag. */
export function planFor(input: PlanInput): BalancePlan {
  const draws = input.draws ?? PLAN_DRAWS;
  checkDraws(draws);
  if (!(input.minRatio > 0) || !Number.isFinite(input.minRatio)) throw new RangeError('minRatio must be a finite number > 0');
  const raw = releaseParts(input.epsilonMicros, input.clips);
  const parts = { patients: partOf(raw.patients), images: partOf(raw.images), annotations: partOf(raw.annotations) };
  const groupCells = cellsOf(input.by, input.domains);
  const estimates = input.estimatedCells ?? null;
  if (estimates && (estimates.length !== groupCells.length || estimates.some((e) => !Number.isSafeInteger(e) || e < 0))) throw new RangeError(`estimatedCells must be ${groupCells.length} whole numbers ≥ 0, one per cell`);
  const cells = estimates ? groupCells.map((group, i): PlanCell => ({ group, estimate: estimates[i] as number, expectedRelativeError: expectedRelativeError(estimates[i] as number, raw.patients.scale) })) : null;
  const total = input.total ?? (estimates ? estimates.reduce((s, e) => s + e, 0) : null);
  if (total !== null && (!Number.isSafeInteger(total) || total < 0)) throw new RangeError('total must be a whole number ≥ 0');
  const groups: PlanGroup[] = [];
  if (total !== null && total > 0 && input.reference) {
    const noise = releaseNoise(groupCells.length, raw.patients.scale, draws);
    for (const [dimension, shares] of Object.entries(input.reference) as Array<[Dimension, Readonly<Record<string, number>>]>) {
      if (!input.by.includes(dimension)) continue; // representation() judges only the dimensions asked
      for (const [group, referenceShare] of Object.entries(shares)) {
        if (!(referenceShare > 0)) continue;
        const mine = groupCells.map((c, i) => (c[dimension] === group ? i : -1)).filter((i) => i >= 0);
        if (mine.length === 0) continue; // a reference group outside the report's groups
        const base = { referenceShare, total, groupCells: mine.length, totalCells: groupCells.length, scale: raw.patients.scale, minRatio: input.minRatio };
        checkQuestion({ ...base, trueRatio: 1 });
        const sample = groupNoise(noise, mine);
        const curve = PLAN_RATIOS.map((ratio) => ({ ratio, flagProbability: flagProbabilityFrom({ ...base, trueRatio: ratio }, sample) }));
        let estimatedRatio: number | null = null;
        let flip: number | null = null;
        let under: boolean | null = null;
        if (estimates) {
          const inGroup = mine.reduce((s, i) => s + (estimates[i] as number), 0);
          estimatedRatio = inGroup / total / referenceShare;
          under = estimatedRatio < input.minRatio;
          const p = flagProbabilityFrom({ ...base, trueRatio: estimatedRatio }, sample);
          flip = under ? 1 - p : p;
        }
        groups.push({ dimension, group, referenceShare, estimatedRatio, flipProbability: flip, underMinimum: under, curve });
      }
    }
  }
  return {
    epsilonMicros: input.epsilonMicros,
    parts,
    by: input.by,
    cells,
    total,
    minRatio: input.minRatio,
    groups,
    method: `Monte Carlo, ${draws} seeded draws of the release's noise (every cell), summed per group (standard error ≤ ${(0.5 / Math.sqrt(draws)).toFixed(3)}), flags by the release's own rule and half-widths`,
  };
}
