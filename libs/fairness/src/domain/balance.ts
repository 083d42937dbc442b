import { type Scale, sampleDiscreteLaplace, scaleFor } from './dlap.js';
import type { Dimension } from './groups.js';
import type { ReleasedCell, ReleasePart } from './privacy.events.js';
import type { RandomSource } from './random.js';

/**
 * A balance report's counting and noising, pure. The privacy unit is the patient: each patient
 * adds to exactly one cell (their groups in the dimensions asked), 1 to its patient count, at
 * most `clipImages` to its image count and at most `clipAnnotations` to its label counts (all
 * labels together), so the L1 sensitivities are 1, clipImages and clipAnnotations. ε is split
 * between the three histograms (sequential composition: the parts add up to the ε spent).
 */

/** What one patient brings to a dataset's counts, before clipping. */
export interface PatientContribution {
  readonly groups: Readonly<Record<Dimension, string>>;
  readonly images: number;
  /** Approved annotations per label. */
  readonly annotations: Readonly<Record<string, number>>;
}

export interface TrueCell {
  readonly group: Readonly<Partial<Record<Dimension, string>>>;
  patients: number;
  images: number;
  annotations: Record<string, number>;
}

export interface Clips {
  readonly images: number;
  readonly annotations: number;
}

export type GroupCell = Readonly<Partial<Record<Dimension, string>>>;

/** Every combination of the groups of the dimensions asked, in domain order (the first dimension varies slowest). */
export function cellsOf(by: readonly Dimension[], domains: Readonly<Record<Dimension, readonly string[]>>): GroupCell[] {
  let cells: Array<Partial<Record<Dimension, string>>> = [{}];
  for (const d of by) cells = cells.flatMap((c) => domains[d].map((g) => ({ ...c, [d]: g })));
  return cells;
}

export function cellKey(by: readonly Dimension[], group: Readonly<Partial<Record<Dimension, string>>>): string {
  return by.map((d) => group[d] ?? '').join('\u0000');
}

/**
 * A patient's label counts clipped to `clip` in all: labels in vocabulary order take turns, one
 * annotation each, until the clip is reached (deterministic, and no label is dropped before
 * another gets its first).
 */
export function clipLabels(counts: Readonly<Record<string, number>>, labels: readonly string[], clip: number): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(labels.map((l) => [l, 0]));
  const total = labels.reduce((s, l) => s + Math.max(0, counts[l] ?? 0), 0);
  if (total <= clip) {
    for (const l of labels) out[l] = Math.max(0, counts[l] ?? 0);
    return out;
  }
  let left = clip;
  while (left > 0) {
    let took = false;
    for (const l of labels) {
      if (left === 0) break;
      if ((out[l] as number) < (counts[l] ?? 0)) {
        out[l] = (out[l] as number) + 1;
        left -= 1;
        took = true;
      }
    }
    if (!took) break;
  }
  return out;
}

/** The true (clipped) counts per cell. They never leave the process: only `releaseCells` of them does. */
export function trueCells(patients: Iterable<PatientContribution>, by: readonly Dimension[], domains: Readonly<Record<Dimension, readonly string[]>>, labels: readonly string[], clips: Clips): TrueCell[] {
  const cells = cellsOf(by, domains).map((group): TrueCell => ({ group, patients: 0, images: 0, annotations: Object.fromEntries(labels.map((l) => [l, 0])) }));
  const index = new Map(cells.map((c, i) => [cellKey(by, c.group), i]));
  for (const p of patients) {
    const i = index.get(cellKey(by, p.groups));
    if (i === undefined) throw new RangeError('a patient falls outside the groups of the report'); // groupsOf maps every value into the domains
    const cell = cells[i] as TrueCell;
    cell.patients += 1;
    cell.images += Math.min(Math.max(0, p.images), clips.images);
    const clipped = clipLabels(p.annotations, labels, clips.annotations);
    for (const l of labels) cell.annotations[l] = (cell.annotations[l] as number) + (clipped[l] as number);
  }
  return cells;
}

/** The parts of a release: ε split 1/2 patients, 1/4 images, the rest annotations (micro-epsilon, integers). */
export function releaseParts(epsilonMicros: number, clips: Clips): { patients: ReleasePart; images: ReleasePart; annotations: ReleasePart } {
  if (!Number.isSafeInteger(epsilonMicros) || epsilonMicros < 4) throw new RangeError('a release needs at least 4 micro-epsilon');
  const patients = Math.floor(epsilonMicros / 2);
  const images = Math.floor(epsilonMicros / 4);
  const annotations = epsilonMicros - patients - images;
  const part = (micros: number, sensitivity: number): ReleasePart => ({ epsilonMicros: micros, sensitivity, clip: sensitivity, scale: scaleFor(sensitivity, micros) });
  return { patients: part(patients, 1), images: part(images, clips.images), annotations: part(annotations, clips.annotations) };
}

function noisy(count: number, scale: Scale, rng: RandomSource): number {
  return count + sampleDiscreteLaplace(scale, rng);
}

/** The noisy answer: every count of every cell with its own discrete Laplace noise (negative values are kept: clamping would bias sums). */
export function releaseCells(cells: readonly TrueCell[], parts: { patients: ReleasePart; images: ReleasePart; annotations: ReleasePart }, labels: readonly string[], rng: RandomSource): ReleasedCell[] {
  return cells.map((c) => ({
    group: c.group,
    patients: noisy(c.patients, parts.patients.scale, rng),
    images: noisy(c.images, parts.images.scale, rng),
    annotations: Object.fromEntries(labels.map((l) => [l, noisy(c.annotations[l] ?? 0, parts.annotations.scale, rng)])),
  }));
}
