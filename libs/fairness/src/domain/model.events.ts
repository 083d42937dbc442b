import type { Dimension } from './groups.js';

/**
 * Models tied to their data (stream `model-<modelId>`): a model version names the snapshots it
 * was trained and validated on, with the Merkle roots the log recorded for them, so what it
 * learned from is provable; its evaluations are results per demographic group on a named test
 * snapshot, with the gaps Custos computed and flagged.
 */
export interface SnapshotRef {
  readonly datasetId: string;
  readonly snapshotId: string;
  /** As recorded in the snapshot's DatasetSnapshotted event (hex SHA-256, RFC 9162). */
  readonly rootHash: string;
  readonly treeSize: number;
  readonly purpose: string;
}

export interface ModelRegisteredData {
  readonly modelId: string;
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly trainedOn: readonly SnapshotRef[];
  readonly validatedOn: readonly SnapshotRef[];
  /** The actor who registered it. */
  readonly developer: string;
}

/** A metric as submitted: its value and confidence interval, all in [0, 1]. */
export interface MetricResult {
  readonly value: number;
  readonly ci: readonly [number, number];
}

export type Metric = 'sensitivity' | 'specificity' | 'auc';

export interface GroupResult {
  readonly dimension: Dimension;
  readonly group: string;
  /** Cases in the test snapshot for this group. */
  readonly n: number;
  readonly sensitivity: MetricResult;
  readonly specificity: MetricResult;
  readonly auc: MetricResult;
}

/** The largest gap of one metric between the judged groups of one dimension. */
export interface MetricGap {
  readonly dimension: Dimension;
  readonly metric: Metric;
  readonly gap: number;
  /** The best and the worst group. */
  readonly groups: readonly [string, string];
}

export interface ModelEvaluatedData {
  readonly evaluationId: string;
  readonly modelId: string;
  readonly testSnapshot: SnapshotRef;
  readonly groups: readonly GroupResult[];
  readonly gaps: readonly MetricGap[];
  /** Gaps beyond the threshold (sensitivity: BIAS_MAX_GAP). */
  readonly flagged: readonly MetricGap[];
  /** Groups with fewer than `thresholds.minGroupSize` cases: reported, not judged. */
  readonly tooSmall: readonly { readonly dimension: Dimension; readonly group: string; readonly n: number }[];
  readonly thresholds: { readonly maxGap: number; readonly minGroupSize: number };
  readonly by: string;
}

export type ModelRegistered = { readonly type: 'ModelRegistered'; readonly data: ModelRegisteredData };
export type ModelEvaluated = { readonly type: 'ModelEvaluated'; readonly data: ModelEvaluatedData };
export type ModelEvent = ModelRegistered | ModelEvaluated;

export function modelStreamId(modelId: string): string {
  return `model-${modelId}`;
}
