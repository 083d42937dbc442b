import type { PersonalFields } from '@custos/decider';

/** The life of an incident (NIST SP 800-61r3 phases, and the HIPAA breach steps). */
export const INCIDENT_STATES = ['OPEN', 'TRIAGED', 'INVESTIGATING', 'ON_HOLD', 'CONTAINED', 'BREACH_ASSESSED', 'NOTIFYING', 'RESOLVED', 'CLOSED', 'DISMISSED', 'MERGED'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One event a case rests on: its id, place in the log and hash (so it can be proven later). */
export interface EvidenceRef {
  readonly eventId: string;
  readonly sequence: number;
  readonly hash: string;
}

export interface IncidentOpenedData {
  readonly incidentId: string;
  /** 'sentinel' when opened from a detection, 'officer' by hand. */
  readonly source: 'sentinel' | 'officer';
  readonly title: string;
  readonly severity: Severity;
  /** The actor the case is about, or the patient (a case keyed by patient, e.g. many staff on one VIP). */
  readonly subject: { readonly kind: 'actor' | 'patient'; readonly id: string };
  readonly detectionIds: readonly string[];
  readonly rules: readonly string[];
  readonly patientIds: readonly string[];
  /** When it would have been known with reasonable diligence (164.404(a)(2)): the first detection's time by default. */
  readonly discoveredAt: string;
  readonly openedAt: string;
  readonly evidence: readonly EvidenceRef[];
}

export interface IncidentTransitionedData {
  readonly incidentId: string;
  readonly from: IncidentState;
  readonly to: IncidentState;
  readonly officer: string;
  readonly at: string;
  readonly note: string;
}

export interface DetectionLinkedData {
  readonly incidentId: string;
  readonly detectionId: string;
  readonly rule: string;
  readonly severity: Severity;
  readonly patientIds: readonly string[];
  readonly evidence: readonly EvidenceRef[];
  readonly at: string;
}

export interface EvidenceAttachedData {
  readonly incidentId: string;
  readonly evidence: readonly EvidenceRef[];
  readonly officer: string;
  readonly at: string;
  readonly note: string;
}

export interface SeverityChangedData {
  readonly incidentId: string;
  readonly from: Severity;
  readonly to: Severity;
  readonly by: string;
  readonly at: string;
  readonly reason: string;
}

export interface IncidentAssignedData {
  readonly incidentId: string;
  readonly assignee: string;
  readonly by: string;
  readonly at: string;
}

export interface DiscoveryDatedData {
  readonly incidentId: string;
  readonly discoveredAt: string;
  /** GDPR Art. 33: when the controller became aware (the 72 hours run from here). */
  readonly awareAt: string;
  readonly by: string;
  readonly at: string;
  readonly note: string;
}

/** The four factors of 45 CFR 164.402(2), the decision, and who is affected where. */
export interface BreachAssessedData {
  readonly incidentId: string;
  readonly factors: {
    readonly natureAndExtent: string;
    readonly unauthorizedPerson: string;
    readonly acquiredOrViewed: string;
    readonly mitigation: string;
  };
  /** 'breach': notification duties apply; 'low-probability-of-compromise': they do not. */
  readonly decision: 'breach' | 'low-probability-of-compromise';
  readonly rationale: string;
  readonly affected: { readonly total: number; readonly byRegion: Readonly<Record<string, number>>; readonly euResidents: number };
  readonly by: string;
  readonly at: string;
}

export const RECIPIENT_CLASSES = ['individuals', 'media', 'hhs', 'supervisory-authority'] as const;
export type RecipientClass = (typeof RECIPIENT_CLASSES)[number];

export interface NotificationRecordedData {
  readonly incidentId: string;
  readonly recipientClass: RecipientClass;
  readonly channel: string;
  readonly date: string;
  /** SHA-256 (hex) of what was sent: the content itself stays with whoever sent it. */
  readonly contentHash: string;
  readonly by: string;
}

/** 164.412: a written statement names an end date; an oral one delays for at most 30 days. */
export interface LawEnforcementHoldData {
  readonly incidentId: string;
  readonly kind: 'written' | 'oral';
  readonly agency: string;
  /** The written statement's reference (its number, letter or case id); required for a written hold. */
  readonly reference?: string;
  readonly from: string;
  /** Written: as stated, at most WRITTEN_HOLD_MAX_DAYS after `from`. Oral: what remains of the incident's 30 days. */
  readonly until: string;
  readonly by: string;
  /** When it was recorded (absent on holds recorded before this was kept). */
  readonly at?: string;
}

/** An officer adds patients the trail does not tie to the subject (a shared login, paper records), with a note. */
export interface PatientsAddedData {
  readonly incidentId: string;
  readonly patientIds: readonly string[];
  readonly by: string;
  readonly at: string;
  readonly note: string;
}

export interface VerdictRecordedData {
  readonly incidentId: string;
  readonly verdict: 'true-positive' | 'false-positive' | 'duplicate';
  readonly by: string;
  readonly at: string;
  readonly note: string;
}

export interface IncidentReopenedData {
  readonly incidentId: string;
  readonly from: IncidentState;
  readonly officer: string;
  readonly at: string;
  readonly note: string;
}

export type IncidentOpened = { readonly type: 'IncidentOpened'; readonly data: IncidentOpenedData };
export type IncidentTransitioned = { readonly type: 'IncidentTransitioned'; readonly data: IncidentTransitionedData };
export type DetectionLinked = { readonly type: 'DetectionLinked'; readonly data: DetectionLinkedData };
export type EvidenceAttached = { readonly type: 'EvidenceAttached'; readonly data: EvidenceAttachedData };
export type SeverityChanged = { readonly type: 'SeverityChanged'; readonly data: SeverityChangedData };
export type IncidentAssigned = { readonly type: 'IncidentAssigned'; readonly data: IncidentAssignedData };
export type DiscoveryDated = { readonly type: 'DiscoveryDated'; readonly data: DiscoveryDatedData };
export type BreachAssessed = { readonly type: 'BreachAssessed'; readonly data: BreachAssessedData };
export type NotificationRecorded = { readonly type: 'NotificationRecorded'; readonly data: NotificationRecordedData };
export type LawEnforcementHold = { readonly type: 'LawEnforcementHold'; readonly data: LawEnforcementHoldData };
export type VerdictRecorded = { readonly type: 'VerdictRecorded'; readonly data: VerdictRecordedData };
export type IncidentReopened = { readonly type: 'IncidentReopened'; readonly data: IncidentReopenedData };
export type PatientsAdded = { readonly type: 'PatientsAdded'; readonly data: PatientsAddedData };

export type IncidentEvent =
  | IncidentOpened
  | IncidentTransitioned
  | DetectionLinked
  | EvidenceAttached
  | SeverityChanged
  | IncidentAssigned
  | DiscoveryDated
  | BreachAssessed
  | NotificationRecorded
  | LawEnforcementHold
  | VerdictRecorded
  | IncidentReopened
  | PatientsAdded;

export function incidentStreamId(incidentId: string): string {
  return `incident-${incidentId}`;
}

/**
 * Officers' free text can name a patient's condition, and a case's title, the agency that asked
 * for a hold (with its reference) or the channel a notice went by can name a person or an
 * investigation: sealed like every personal field, never read by `evolve`, never in the SIEM feed.
 */
export const INCIDENT_PERSONAL: PersonalFields<IncidentEvent> = {
  IncidentOpened: ['title'],
  NotificationRecorded: ['channel'],
  LawEnforcementHold: ['agency', 'reference'],
  PatientsAdded: ['note'],
  IncidentTransitioned: ['note'],
  EvidenceAttached: ['note'],
  SeverityChanged: ['reason'],
  DiscoveryDated: ['note'],
  BreachAssessed: ['factors', 'rationale'],
  VerdictRecorded: ['note'],
  IncidentReopened: ['note'],
};
