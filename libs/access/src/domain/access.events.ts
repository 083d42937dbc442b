import type { PersonalFields } from '@custos/decider';
import type { DataAction, Purpose, ResourceType } from '@custos/vocabulary';

/** Events of the access context: readonly data, a discriminated union on `type`. */
export interface AccessDecidedData {
  readonly resourceType: ResourceType;
  readonly resourceId: string;
  readonly action: DataAction;
  readonly purpose: Purpose;
  /** null when the resource is unknown (a probe). */
  readonly patientId: string | null;
  /** The dataset the resource belongs to (a grant may be limited to it). */
  readonly datasetId?: string;
  readonly decision: 'PERMIT' | 'DENY';
  readonly rule: string;
  readonly reason: string;
  readonly emergency: boolean;
  /** The clinician's stated reason for breaking the glass (only when emergency). */
  readonly emergencyReason?: string;
  /** The consent stream's version the decision relied on (0: the defaults, no consent recorded yet). */
  readonly consentVersion: number;
  /** The policy the decision was made under (a digest of the rules and parameters); null before v2. */
  readonly policyVersion: string | null;
  /** For a read of an image: whether its demographics went out with it. */
  readonly demographics?: 'included' | 'withheld';
  /** For a DICOMweb search or retrieve through the gateway: what was asked of the archive. */
  readonly dicom?: DicomAccess;
}

/** Where the purpose of use came from: the token's IHE IUA claim, the `purpose` query parameter, or the X-Purpose-Of-Use header. */
export type PurposeSource = 'token' | 'query' | 'header';

export const DICOM_LEVELS = ['study', 'series', 'instance', 'metadata', 'frames', 'rendered', 'search'] as const;
export type DicomLevel = (typeof DICOM_LEVELS)[number];

export interface DicomAccess {
  readonly level: DicomLevel;
  readonly studyUid: string;
  readonly seriesUid?: string;
  readonly instanceUid?: string;
  readonly purposeSource: PurposeSource;
  /** Whether what goes out is de-identified (PS3.15 Basic Profile with Retain Patient Characteristics). */
  readonly deidentified: boolean;
}

/**
 * What a permitted DICOMweb retrieve released, recorded once its stream ended: complete, aborted
 * by the client, or failed at the archive (then nothing, or only what went before, was released).
 */
export interface DicomTransferEndedData {
  readonly accessEventId: string;
  readonly patientId: string;
  readonly outcome: 'complete' | 'aborted' | 'archive-failed';
  readonly instances: number;
  readonly bytes: number;
  /** The archive's HTTP status, or 0 when it did not answer. */
  readonly archiveStatus: number;
}

/**
 * A DICOMweb search (QIDO-RS): its level, the query keys it used (names only: values may be
 * personal), how many matches went out and how many were withheld because their patient's consent
 * or the policy did not permit the purpose. Each patient shown has an AccessDecided of their own.
 */
export interface DicomSearchRecordedData {
  readonly level: 'studies' | 'series' | 'instances';
  readonly studyUid: string | null;
  readonly seriesUid: string | null;
  readonly keys: readonly string[];
  readonly purpose: Purpose;
  readonly purposeSource: PurposeSource;
  readonly returned: number;
  readonly withheld: number;
  readonly patients: number;
  readonly deidentified: boolean;
}

/** A route refused: the caller was not entitled, or a rule such as separation of duties held. */
export interface RouteAccessDeniedData {
  readonly method: string;
  readonly route: string;
  readonly action: string;
  readonly subject: string;
  readonly patientId: string | null;
  readonly rule: string;
}

export interface EmergencyAccessReviewedData {
  readonly accessEventId: string;
  readonly patientId: string;
  readonly verdict: 'justified' | 'unjustified';
  readonly note: string;
}

/** What audit data a read returned (watching the watchers). */
export const AUDIT_RESOURCES = ['access-trail', 'disclosures', 'audit-log', 'consent', 'review-queue', 'dataset-consent', 'dataset-quality', 'incidents'] as const;
export type AuditResource = (typeof AUDIT_RESOURCES)[number];

/** Someone read audit data: who (metadata), which route, which patient or filters, how many items. */
export interface AuditDataReadData {
  readonly route: string;
  readonly resourceType: AuditResource;
  readonly patientId: string | null;
  readonly filters: Readonly<Record<string, string | number>>;
  readonly itemsReturned: number;
  /** The policy rule that let the reader in. */
  readonly rule: string;
}

/** A policy version came into force: its digest and the parameters `verify --decisions` re-derives with. */
export interface PolicyActivatedData {
  readonly policyVersion: string;
  readonly rulesDigest: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

export type AccessDecided = { readonly type: 'AccessDecided'; readonly data: AccessDecidedData };
export type RouteAccessDenied = { readonly type: 'RouteAccessDenied'; readonly data: RouteAccessDeniedData };
export type EmergencyAccessReviewed = { readonly type: 'EmergencyAccessReviewed'; readonly data: EmergencyAccessReviewedData };
export type AuditDataRead = { readonly type: 'AuditDataRead'; readonly data: AuditDataReadData };
export type PolicyActivated = { readonly type: 'PolicyActivated'; readonly data: PolicyActivatedData };
export type DicomTransferEnded = { readonly type: 'DicomTransferEnded'; readonly data: DicomTransferEndedData };
export type DicomSearchRecorded = { readonly type: 'DicomSearchRecorded'; readonly data: DicomSearchRecordedData };
export type AccessEvent = AccessDecided | RouteAccessDenied | AuditDataRead | DicomTransferEnded | DicomSearchRecorded;

/** DICOMweb searches, which may span patients. */
export const DICOM_SEARCHES_STREAM = 'dicom-searches';

/** Decisions about one patient's data share a stream, so one patient's trail is one stream. */
export function accessStreamId(patientId: string | null): string {
  return patientId ? `access-${patientId}` : 'access-unresolved';
}

/** Reads of audit data that name no patient. */
export const AUDIT_READS_STREAM = 'audit-reads';

export function reviewStreamId(accessEventId: string): string {
  return `review-${accessEventId}`;
}

export function policyStreamId(policyVersion: string): string {
  return `policy-${policyVersion}`;
}

/**
 * Personal fields, sealed under the patient's data key when stored: a clinician's free-text
 * reason for breaking the glass and a reviewer's note can name the patient's condition.
 * Everything audits query (ids, roles, purpose, decision, rule, times, versions) stays clear.
 */
export const ACCESS_PERSONAL: PersonalFields<AccessDecided | EmergencyAccessReviewed> = {
  AccessDecided: ['emergencyReason'],
  EmergencyAccessReviewed: ['note'],
};
