import type { PersonalFields } from '@custos/decider';

/**
 * Annotation governance events. A dataset (stream `dataset-<id>`) says what its labels are for
 * and who may label; one stream per annotation (`annotation-<id>`) records its whole life.
 * Every annotation event names the credential the actor acted under (the actor is in the
 * metadata) and the patient (the Kafka key, and the data key of its sealed note).
 */
export const DATASET_PURPOSES = ['AI_TRAINING', 'RESEARCH'] as const;
export type DatasetPurpose = (typeof DATASET_PURPOSES)[number];

export interface DatasetConfiguredData {
  readonly datasetId: string;
  readonly purpose: DatasetPurpose;
  /** The controlled label vocabulary. */
  readonly labels: readonly string[];
  /** Credentials accepted to annotate and review. */
  readonly credentials: readonly string[];
  /** Distinct approvals an annotation needs to count as approved. */
  readonly minReviewers: number;
  /** Researchers (actor ids) on the dataset: who besides stewards and regulators may ask for its balance report. */
  readonly researchers?: readonly string[];
}

export type BoundingBox = { readonly type: 'bbox'; readonly x: number; readonly y: number; readonly width: number; readonly height: number };
export type Polygon = { readonly type: 'polygon'; readonly points: readonly (readonly [number, number])[] };
export type MaskRef = { readonly type: 'mask'; readonly ref: string };
export type Geometry = BoundingBox | Polygon | MaskRef;

export type AnnotationStatus = 'unreviewed' | 'approved' | 'rejected';

export interface AnnotationCreatedData {
  readonly annotationId: string;
  readonly imageId: string;
  readonly datasetId: string;
  readonly patientId: string;
  readonly label: string;
  readonly geometry: Geometry;
  readonly confidence: number;
  readonly note?: string;
  /** Who acted (also in the metadata: here because the rules on authors and reviewers read it). */
  readonly by: string;
  readonly credential: string;
}

/** Only the fields that changed are present. */
export interface AnnotationEditedData {
  readonly annotationId: string;
  readonly patientId: string;
  readonly label?: string;
  readonly geometry?: Geometry;
  readonly confidence?: number;
  readonly note?: string;
  readonly by: string;
  readonly credential: string;
  /** The status after the edit: an edit sends an approved or rejected annotation back to review. */
  readonly status: AnnotationStatus;
}

export interface AnnotationDeletedData {
  readonly annotationId: string;
  readonly patientId: string;
  readonly by: string;
  readonly credential: string;
}

export interface AnnotationReviewedData {
  readonly annotationId: string;
  readonly patientId: string;
  readonly verdict: 'approved' | 'rejected';
  readonly reason?: string;
  readonly by: string;
  readonly credential: string;
  /** The status after this review (approved once `minReviewers` distinct reviewers approved since the last edit). */
  readonly status: AnnotationStatus;
}

/** One approved annotation frozen into a snapshot; its canonical JSON is a Merkle leaf. */
export interface SnapshotEntry {
  readonly annotationId: string;
  readonly version: number;
  readonly imageId: string;
  readonly label: string;
}

/**
 * A dataset's approved annotations frozen for training (stream `snapshot-<id>`): the entries
 * sorted by annotation id, label counts, what was left out and why, and the RFC 9162 Merkle
 * tree hash over the entries' canonical JSON, which a trained model cites.
 */
export interface DatasetSnapshottedData {
  readonly snapshotId: string;
  readonly datasetId: string;
  readonly datasetVersion: number;
  readonly purpose: DatasetPurpose;
  /** The annotations read model was complete up to this global sequence. */
  readonly asOfSequence: number;
  readonly entries: readonly SnapshotEntry[];
  readonly labelCounts: Readonly<Record<string, number>>;
  readonly excluded: { readonly images: number; readonly annotations: number; readonly reason: 'no-consent-for-purpose' };
  readonly treeSize: number;
  /** Hex SHA-256. */
  readonly rootHash: string;
}

export type DatasetSnapshotted = { readonly type: 'DatasetSnapshotted'; readonly data: DatasetSnapshottedData };

export function snapshotStreamId(snapshotId: string): string {
  return `snapshot-${snapshotId}`;
}

export type DatasetConfigured = { readonly type: 'DatasetConfigured'; readonly data: DatasetConfiguredData };
export type AnnotationCreated = { readonly type: 'AnnotationCreated'; readonly data: AnnotationCreatedData };
export type AnnotationEdited = { readonly type: 'AnnotationEdited'; readonly data: AnnotationEditedData };
export type AnnotationDeleted = { readonly type: 'AnnotationDeleted'; readonly data: AnnotationDeletedData };
export type AnnotationReviewed = { readonly type: 'AnnotationReviewed'; readonly data: AnnotationReviewedData };
export type AnnotationEvent = AnnotationCreated | AnnotationEdited | AnnotationDeleted | AnnotationReviewed;

/** Personal: free text about a patient's image (the note, a review's reason). */
export const ANNOTATION_PERSONAL: PersonalFields<AnnotationEvent> = {
  AnnotationCreated: ['note'],
  AnnotationEdited: ['note'],
  AnnotationReviewed: ['reason'],
};

export function datasetStreamId(datasetId: string): string {
  return `dataset-${datasetId}`;
}

export function annotationStreamId(annotationId: string): string {
  return `annotation-${annotationId}`;
}

export const AGREEMENT_DIMENSIONS = ['sex', 'ageBand', 'ethnicity'] as const;
export type AgreementDimension = (typeof AGREEMENT_DIMENSIONS)[number];

/** A review event a measurement rests on (evidence: its place in the log). */
export interface ReviewRef {
  readonly eventId: string;
  readonly sequence: number;
  readonly hash: string;
}

/**
 * A demographic group's inter-annotator agreement, measured by the gateway (which can open the
 * demographics) over the group's last `window` reviews in a dataset (stream
 * `agreement-<datasetId>`). Recorded only when the group's state changes; the sentinel judges
 * it. Counts and kappa only: no patient, no per-image data.
 */
export interface GroupAgreementMeasuredData {
  readonly datasetId: string;
  readonly dimension: AgreementDimension;
  readonly group: string;
  /** Fleiss' kappa over the window's images with two or more raters. */
  readonly kappa: number | null;
  /** Rated images (two or more raters) in the window. */
  readonly images: number;
  readonly window: number;
  readonly minKappa: number;
  readonly state: 'below' | 'at-or-above';
  /** The window's review events, newest first. */
  readonly reviews: readonly ReviewRef[];
}

export type GroupAgreementMeasured = { readonly type: 'GroupAgreementMeasured'; readonly data: GroupAgreementMeasuredData };

export function agreementStreamId(datasetId: string): string {
  return `agreement-${datasetId}`;
}
