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
export type AccessEvent = AccessDecided | RouteAccessDenied | AuditDataRead;

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
