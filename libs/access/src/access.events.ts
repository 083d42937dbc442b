import type { DataAction, Purpose, ResourceType } from '@custos/authz';

/** Events of the access context: readonly data, a discriminated union on `type`. */
export interface AccessDecidedData {
  readonly resourceType: ResourceType;
  readonly resourceId: string;
  readonly action: DataAction;
  readonly purpose: Purpose;
  /** null when the resource is unknown (a probe). */
  readonly patientId: string | null;
  readonly decision: 'PERMIT' | 'DENY';
  readonly rule: string;
  readonly reason: string;
  readonly emergency: boolean;
  /** The clinician's stated reason for breaking the glass (only when emergency). */
  readonly emergencyReason?: string;
  /** The consent version the decision relied on (0: the defaults, no consent recorded yet). */
  readonly consentVersion: number;
}

/** A route refused for lack of entitlement (e.g. reading someone else's trail). */
export interface RouteAccessDeniedData {
  readonly method: string;
  readonly route: string;
  readonly action: string;
  readonly subject: string;
  readonly patientId: string | null;
  readonly rule: 'not-entitled';
}

export interface EmergencyAccessReviewedData {
  readonly accessEventId: string;
  readonly patientId: string;
  readonly verdict: 'justified' | 'unjustified';
  readonly note: string;
}

export type AccessDecided = { readonly type: 'AccessDecided'; readonly data: AccessDecidedData };
export type RouteAccessDenied = { readonly type: 'RouteAccessDenied'; readonly data: RouteAccessDeniedData };
export type EmergencyAccessReviewed = { readonly type: 'EmergencyAccessReviewed'; readonly data: EmergencyAccessReviewedData };
export type AccessEvent = AccessDecided | RouteAccessDenied | EmergencyAccessReviewed;

/** Decisions about one patient's data share a stream, so one patient's trail is one stream. */
export function accessStreamId(patientId: string | null): string {
  return patientId ? `access-${patientId}` : 'access-unresolved';
}

export function reviewStreamId(accessEventId: string): string {
  return `review-${accessEventId}`;
}
