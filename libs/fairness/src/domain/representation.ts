import { noiseHalfWidth, noiseStandardDeviation, type Scale, scaleValue } from './dlap.js';
import type { Dimension } from './groups.js';
import type { FlaggedGroup, ReleasedCell, ReleasePart } from './privacy.events.js';

/**
 * Reading a release against a reference population: post-processing of the noisy answer and
 * public parameters only, so it spends no ε. A sum of k cells carries the sum of k independent
 * noises: its 95% half-width is exact for one cell (`noiseHalfWidth`) and the normal
 * approximation 1.96·√k·sd for more. A group is flagged only when its whole interval is under
 * the minimum: noise alone never flags a group.
 */

/** The 95% half-width of the noise on a sum of `cells` noisy counts of scale σ. */
export function sumHalfWidth(scale: Scale, cells: number): number {
  const sigma = scaleValue(scale);
  if (cells <= 1) return noiseHalfWidth(sigma);
  return Math.ceil(1.96 * Math.sqrt(cells) * noiseStandardDeviation(sigma));
}

/** A noisy sum with its interval. */
export interface NoisySum {
  readonly value: number;
  readonly halfWidth: number;
}

function sum(cells: readonly ReleasedCell[], pick: (c: ReleasedCell) => number, scale: Scale): NoisySum {
  return { value: cells.reduce((s, c) => s + pick(c), 0), halfWidth: sumHalfWidth(scale, cells.length) };
}

/** A ratio a/b of two noisy sums, point and interval (b's interval reaching 0: the upper bound is unbounded). */
function ratioOf(a: NoisySum, b: NoisySum, over: number): { point: number | null; interval: [number, number] } {
  const point = b.value > 0 ? Math.max(0, a.value) / b.value / over : null;
  const lo = Math.max(0, a.value - a.halfWidth) / Math.max(1, b.value + b.halfWidth) / over;
  const hi = b.value - b.halfWidth > 0 ? (a.value + a.halfWidth) / (b.value - b.halfWidth) / over : Number.POSITIVE_INFINITY;
  return { point, interval: [lo, hi] };
}

export interface GroupRepresentation {
  readonly dimension: Dimension;
  readonly group: string;
  /** Noisy patients in the group (a sum over cells) with its 95% half-width. */
  readonly patients: NoisySum;
  readonly share: number | null;
  readonly referenceShare: number;
  readonly ratio: number | null;
  readonly interval: readonly [number, number];
  readonly flagged: boolean;
}

/** Each group's share of the dataset's patients over its reference share, with an interval that includes the noise. */
export function representation(
  cells: readonly ReleasedCell[],
  parts: { readonly patients: ReleasePart },
  reference: Readonly<Partial<Record<Dimension, Readonly<Record<string, number>>>>>,
  minRatio: number,
): GroupRepresentation[] {
  const out: GroupRepresentation[] = [];
  const scale = parts.patients.scale;
  const total = sum(cells, (c) => c.patients, scale);
  for (const [dimension, shares] of Object.entries(reference) as Array<[Dimension, Readonly<Record<string, number>>]>) {
    if (!cells.some((c) => c.group[dimension] !== undefined)) continue; // the release did not ask for this dimension
    for (const [group, referenceShare] of Object.entries(shares)) {
      if (!(referenceShare > 0)) continue;
      const inGroup = sum(cells.filter((c) => c.group[dimension] === group), (c) => c.patients, scale);
      const r = ratioOf(inGroup, total, referenceShare);
      out.push({
        dimension,
        group,
        patients: inGroup,
        share: total.value > 0 ? Math.max(0, inGroup.value) / total.value : null,
        referenceShare,
        ratio: r.point,
        interval: r.interval,
        flagged: r.interval[1] < minRatio,
      });
    }
  }
  return out;
}

export interface LabelPrevalence {
  readonly dimension: Dimension;
  readonly group: string;
  readonly label: string;
  /** Annotations of the label per image in the group, over the same overall. */
  readonly ratio: number | null;
  readonly interval: readonly [number, number];
  readonly flagged: boolean;
}

/**
 * Each label's prevalence (approved annotations per image) in each group over its prevalence
 * in the whole dataset. The interval combines the four noisy sums' intervals (conservatively:
 * each bound takes the worst end of each).
 */
export function labelPrevalence(
  cells: readonly ReleasedCell[],
  parts: { readonly images: ReleasePart; readonly annotations: ReleasePart },
  by: readonly Dimension[],
  groups: Readonly<Partial<Record<Dimension, readonly string[]>>>,
  labels: readonly string[],
  minRatio: number,
): LabelPrevalence[] {
  const out: LabelPrevalence[] = [];
  const images = sum(cells, (c) => c.images, parts.images.scale);
  for (const label of labels) {
    const annotations = sum(cells, (c) => c.annotations[label] ?? 0, parts.annotations.scale);
    if (annotations.value - annotations.halfWidth <= 0 || images.value - images.halfWidth <= 0) continue; // overall prevalence indistinguishable from 0: nothing to compare with
    for (const dimension of by) {
      for (const group of groups[dimension] ?? []) {
        const mine = cells.filter((c) => c.group[dimension] === group);
        const a = sum(mine, (c) => c.annotations[label] ?? 0, parts.annotations.scale);
        const i = sum(mine, (c) => c.images, parts.images.scale);
        const point = i.value > 0 && images.value > 0 && annotations.value > 0 ? Math.max(0, a.value) / i.value / (annotations.value / images.value) : null;
        const lo = i.value + i.halfWidth > 0 ? Math.max(0, a.value - a.halfWidth) / (i.value + i.halfWidth) / ((annotations.value + annotations.halfWidth) / (images.value - images.halfWidth)) : 0;
        const hi = i.value - i.halfWidth > 0 ? (a.value + a.halfWidth) / (i.value - i.halfWidth) / ((annotations.value - annotations.halfWidth) / (images.value + images.halfWidth)) : Number.POSITIVE_INFINITY;
        out.push({ dimension, group, label, ratio: point, interval: [lo, hi], flagged: hi < minRatio });
      }
    }
  }
  return out;
}

/**
 * The groups a release shows confidently NOT under the minimum (the whole interval at or above
 * it): what clears an earlier flag. A release too noisy to say either way neither flags nor
 * clears, so a low-ε report cannot wash out a flag.
 */
export function clearedOf(rep: readonly GroupRepresentation[], prevalence: readonly LabelPrevalence[], minRatio: number): FlaggedGroup[] {
  return [
    ...rep.filter((r) => r.interval[0] >= minRatio).map((r): FlaggedGroup => ({ kind: 'representation', dimension: r.dimension, group: r.group, interval: r.interval })),
    ...prevalence.filter((p) => p.interval[0] >= minRatio).map((p): FlaggedGroup => ({ kind: 'label-prevalence', dimension: p.dimension, group: p.group, label: p.label, interval: p.interval })),
  ];
}

/** The flags of a release, as BalanceReleased records them. */
export function flagsOf(rep: readonly GroupRepresentation[], prevalence: readonly LabelPrevalence[]): FlaggedGroup[] {
  return [
    ...rep.filter((r) => r.flagged).map((r): FlaggedGroup => ({ kind: 'representation', dimension: r.dimension, group: r.group, interval: r.interval })),
    ...prevalence.filter((p) => p.flagged).map((p): FlaggedGroup => ({ kind: 'label-prevalence', dimension: p.dimension, group: p.group, label: p.label, interval: p.interval })),
  ];
}
