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
export const AUDIT_RESOURCES = ['access-trail', 'disclosures', 'audit-log', 'consent', 'review-queue', 'dataset-consent', 'dataset-quality', 'incidents', 'findings', 'privacy-ledger'] as const;
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

/** A FHIR Reference as reported (only its identifying parts; `display` is personal and sealed apart). */
export interface ReportedReference {
  readonly reference?: string;
  readonly type?: string;
  readonly identifier?: { readonly system?: string; readonly value?: string };
}

/** A FHIR Coding, reduced to what audits query. */
export interface ReportedCoding {
  readonly system?: string;
  readonly code?: string;
}

/** One agent of a reported AuditEvent: who, in which roles, whether they asked. */
export interface ReportedAgent {
  readonly who: ReportedReference | null;
  readonly requestor: boolean;
  readonly type: readonly ReportedCoding[];
  readonly roles: readonly ReportedCoding[];
}

/** One entity of a reported AuditEvent: what was touched, as what. */
export interface ReportedEntity {
  readonly what: ReportedReference | null;
  readonly type: ReportedCoding | null;
  readonly role: ReportedCoding | null;
}

/**
 * Free text of a reported AuditEvent that may name a person or a condition (the outcome
 * description, agents' and entities' display names, entity descriptions): sealed under the
 * patient's data key when stored, never in clear in the log.
 */
export interface ReportedNarrative {
  readonly outcomeDesc?: string;
  readonly agents?: ReadonlyArray<{ readonly index: number; readonly display?: string; readonly name?: string }>;
  readonly entities?: ReadonlyArray<{ readonly index: number; readonly display?: string; readonly name?: string; readonly description?: string }>;
}

/**
 * Another system's access, reported to Custos as a FHIR R4 AuditEvent (IHE BALP): recorded as
 * reported by that source, never as decided by Custos. `decision` says which way the source
 * says it went (outcome 0: `reported-success`, else `reported-failure`).
 */
export interface AccessReportedData {
  /** Who reported it: the caller's identity (the source system's client) and the AuditEvent's own source. */
  readonly source: { readonly client: string; readonly observer: ReportedReference | null; readonly site: string | null };
  /** The AuditEvent's id at the source: with `source.client`, what makes a retry a duplicate. */
  readonly auditEventId: string;
  /** When the source says the access happened (AuditEvent.recorded, as an ISO instant in UTC). */
  readonly recorded: string;
  readonly type: ReportedCoding;
  readonly subtype: readonly ReportedCoding[];
  /** C, R, U, D or E; null when the AuditEvent names none. */
  readonly action: 'C' | 'R' | 'U' | 'D' | 'E' | null;
  /** 0, 4, 8 or 12; null when the AuditEvent names none (read as success). */
  readonly outcome: '0' | '4' | '8' | '12' | null;
  readonly decision: 'reported-success' | 'reported-failure';
  /** The actor: the requesting agent's identity qualified by the source (`<client>/<who>`), so no source can pose as a Custos user. */
  readonly actorId: string;
  readonly agents: readonly ReportedAgent[];
  readonly purposeOfEvent: readonly ReportedCoding[];
  /** The purpose in Custos' vocabulary where a purposeOfEvent code maps to one, else null. */
  readonly purpose: string | null;
  /** Whether a purposeOfEvent code says emergency treatment (ETREAT, BTG). */
  readonly emergency: boolean;
  readonly entities: readonly ReportedEntity[];
  /** The patient named by the patient entity (a Custos patient id), or null. */
  readonly patientId: string | null;
  /** Sealed: the free text of the AuditEvent (see ReportedNarrative). */
  readonly narrative?: ReportedNarrative;
}

/** Marks (source, AuditEvent id) as taken: appended with the report, in a stream that must not exist yet. */
export interface AccessReportReceivedData {
  readonly sourceClient: string;
  readonly auditEventId: string;
  readonly streamId: string;
}

export type AccessDecided = { readonly type: 'AccessDecided'; readonly data: AccessDecidedData };
export type RouteAccessDenied = { readonly type: 'RouteAccessDenied'; readonly data: RouteAccessDeniedData };
export type EmergencyAccessReviewed = { readonly type: 'EmergencyAccessReviewed'; readonly data: EmergencyAccessReviewedData };
export type AuditDataRead = { readonly type: 'AuditDataRead'; readonly data: AuditDataReadData };
export type PolicyActivated = { readonly type: 'PolicyActivated'; readonly data: PolicyActivatedData };
export type DicomTransferEnded = { readonly type: 'DicomTransferEnded'; readonly data: DicomTransferEndedData };
export type DicomSearchRecorded = { readonly type: 'DicomSearchRecorded'; readonly data: DicomSearchRecordedData };

/** DICOMweb searches, which may span patients. */
export const DICOM_SEARCHES_STREAM = 'dicom-searches';
export type AccessReported = { readonly type: 'AccessReported'; readonly data: AccessReportedData };
export type AccessReportReceived = { readonly type: 'AccessReportReceived'; readonly data: AccessReportReceivedData };
export type AccessEvent = AccessDecided | RouteAccessDenied | AuditDataRead | AccessReported | AccessReportReceived | DicomTransferEnded | DicomSearchRecorded;

/** Decisions about one patient's data share a stream, so one patient's trail is one stream. */
export function accessStreamId(patientId: string | null): string {
  return patientId ? `access-${patientId}` : 'access-unresolved';
}

/** Reported accesses that name no patient (a query over many, a system event). */
export const REPORTED_UNRESOLVED_STREAM = 'access-reported';

/**
 * The marker stream of one reported AuditEvent: per source (its client identity, hashed, so
 * any identity fits a stream id) and AuditEvent id. Appended with expected version "no stream"
 * in the same transaction as the report: a second append of the same pair is a conflict.
 */
export function reportMarkerStreamId(sourceDigest: string, auditEventId: string): string {
  return `audit-report-${sourceDigest}-${auditEventId}`;
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
export const ACCESS_PERSONAL: PersonalFields<AccessDecided | EmergencyAccessReviewed | AccessReported> = {
  AccessDecided: ['emergencyReason'],
  AccessReported: ['narrative'],
  EmergencyAccessReviewed: ['note'],
};
