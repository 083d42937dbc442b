import type { Scale } from './dlap.js';
import type { Dimension } from './groups.js';

/**
 * Privacy accounting events. Every balance report released about a dataset is one
 * `BalanceReleased` in the dataset's privacy stream (`privacy-<datasetId>`): who asked, what,
 * the ε spent and the noisy answer, never a true count. The stream is the ledger: the budget
 * left is the cap minus the ε its events spent, and an append is conditional on the version
 * read, so two releases racing for the last of a budget cannot both be recorded.
 */

/** One part of a release: a histogram, its share of ε, its L1 sensitivity and the noise scale Δ/ε. */
export interface ReleasePart {
  readonly epsilonMicros: number;
  /** What one patient can change in this part, at most (L1). */
  readonly sensitivity: number;
  /** Each patient's contribution is clipped at this (images, annotations); 1 for patients. */
  readonly clip: number;
  readonly scale: Scale;
}

/** One cell: a combination of groups, with its noisy counts. */
export interface ReleasedCell {
  readonly group: Readonly<Partial<Record<Dimension, string>>>;
  readonly patients: number;
  readonly images: number;
  /** Approved annotations per label (the dataset's vocabulary, in its order). */
  readonly annotations: Readonly<Record<string, number>>;
}

export interface FlaggedGroup {
  readonly kind: 'representation' | 'label-prevalence';
  readonly dimension: Dimension;
  readonly group: string;
  readonly label?: string;
  /** The interval of the ratio (95%, noise included). */
  readonly interval: readonly [number, number];
}

export interface BalanceReleasedData {
  readonly releaseId: string;
  readonly datasetId: string;
  /** The actor id the budget is charged to. */
  readonly requester: string;
  readonly query: { readonly by: readonly Dimension[]; readonly epsilon: string };
  readonly epsilonMicros: number;
  readonly mechanism: 'discrete-laplace';
  readonly parts: { readonly patients: ReleasePart; readonly images: ReleasePart; readonly annotations: ReleasePart };
  /** The groups counted in each dimension asked for (public, fixed before reading data). */
  readonly groups: Readonly<Partial<Record<Dimension, readonly string[]>>>;
  readonly labels: readonly string[];
  readonly cells: readonly ReleasedCell[];
  /** The read models the counts came from were complete up to this global sequence. */
  readonly asOfSequence: number;
  /** The reference population the flags were judged against (its stream version), null: none set. */
  readonly referenceVersion: number | null;
  /**
   * Groups flagged at release (post-processing of the noisy answer, no further ε): a group's
   * representation ratio whose whole interval is under the minimum, or a label's prevalence in
   * a group whose whole interval is under the minimum times its prevalence overall.
   */
  readonly flagged: readonly FlaggedGroup[];
  /**
   * Groups the release shows confidently not under the minimum (the whole interval at or above
   * it): they clear an earlier flag. A group in neither list keeps whatever an earlier release
   * said of it (absent in releases recorded before this field: none cleared).
   */
  readonly cleared?: readonly FlaggedGroup[];
  /** The budgets in force when it was spent, micro-epsilon. */
  readonly caps: { readonly perRequester: number; readonly perDataset: number };
}

/** A reference population's shares per group (e.g. the catchment's census), per dimension; each dimension's shares sum to 1. */
export interface ReferencePopulationSetData {
  readonly datasetId: string;
  /** Where the shares come from (e.g. "2021 census, Greater Manchester"). */
  readonly source: string;
  readonly shares: Readonly<Partial<Record<Dimension, Readonly<Record<string, number>>>>>;
}

export type BalanceReleased = { readonly type: 'BalanceReleased'; readonly data: BalanceReleasedData };
export type ReferencePopulationSet = { readonly type: 'ReferencePopulationSet'; readonly data: ReferencePopulationSetData };

export function privacyStreamId(datasetId: string): string {
  return `privacy-${datasetId}`;
}

export function referencePopulationStreamId(datasetId: string): string {
  return `reference-population-${datasetId}`;
}
