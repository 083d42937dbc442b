import { decideDataAccess, type Principal, ruleFor } from '@custos/authz';
import type { Decider } from '@custos/decider';
import { AlreadyExistsError, NotFoundError, ValidationError } from '@custos/errors';
import { DATA_ACTIONS, type DataAction, PURPOSES, type Purpose, RESOURCE_TYPES, type ResourceType } from '@custos/vocabulary';
import { type AccessDecided, type AccessDecidedData, type AccessEvent, type AccessReported, type AccessReportedData, type AuditDataReadData, DICOM_LEVELS, type DicomAccess, type DicomSearchRecordedData, type DicomTransferEndedData, type EmergencyAccessReviewed, type PolicyActivated, type PolicyActivatedData, type RouteAccessDeniedData } from './access.events.js';
import { PATIENT_ID } from './fhir-audit-ingest.js';

/**
 * Pure deciders of the access context: no framework, no I/O, no clock. What the handler
 * loaded (the resource, the consent as of a stream version, the policy version) comes in with
 * the command, so the same decision can be derived again from the log (`verify --decisions`).
 */
export interface DecideAccess {
  readonly type: 'DecideAccess';
  readonly principal: Principal;
  readonly resourceType: ResourceType;
  readonly resourceId: string;
  readonly action: DataAction;
  readonly purpose: Purpose;
  readonly emergencyReason?: string;
  /** Whose the resource is; null when Custos does not know it. */
  readonly resource: { readonly patientId: string; readonly datasetId?: string } | null;
  /** The consent for the purpose and the resource's category, as of `version` of the consent stream. */
  readonly consent: { readonly granted: boolean; readonly version: number };
  /** Present when the demographics are asked for too (a read of an image): their own consent. */
  readonly demographics?: { readonly consentGranted: boolean };
  readonly policyVersion: string;
  /** A DICOMweb search or retrieve: recorded with the decision as asked. */
  readonly dicom?: DicomAccess;
}

export type RecordRouteDenied = { readonly type: 'RecordRouteDenied'; readonly data: RouteAccessDeniedData };
export type RecordAuditRead = { readonly type: 'RecordAuditRead'; readonly data: AuditDataReadData };
export type RecordDicomTransfer = { readonly type: 'RecordDicomTransfer'; readonly data: DicomTransferEndedData };
export type RecordDicomSearch = { readonly type: 'RecordDicomSearch'; readonly data: DicomSearchRecordedData };
/** Another system's access, reported as a FHIR AuditEvent and read by `parseIngest`. */
export type RecordReportedAccess = { readonly type: 'RecordReportedAccess'; readonly data: AccessReportedData };
export type AccessCommand = DecideAccess | RecordRouteDenied | RecordAuditRead | RecordReportedAccess | RecordDicomTransfer | RecordDicomSearch;

/**
 * A reported access, recorded as reported: what the trail's NOT NULL columns and the
 * sentinel rely on is checked whatever transport sent it (a source, an actor qualified by that
 * source, an AuditEvent id, a patient Custos can name, a decision that follows the outcome).
 */
export function reportAccess(command: RecordReportedAccess): AccessReported {
  const d = command.data;
  const bad = (field: string, why: string) => new ValidationError(`${field} ${why}`, { field }, 'invalid-audit-event');
  if (typeof d?.source?.client !== 'string' || d.source.client.length < 1) throw bad('source', 'must name the reporting client');
  if (typeof d.actorId !== 'string' || !d.actorId.startsWith(`${d.source.client}/`)) throw bad('actorId', 'must be qualified by the source');
  if (typeof d.auditEventId !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(d.auditEventId)) throw bad('auditEventId', 'must be a FHIR id');
  if (d.patientId !== null && (typeof d.patientId !== 'string' || !PATIENT_ID.test(d.patientId))) throw bad('patientId', 'must be a Custos patient id or null');
  if (typeof d.recorded !== 'string' || Number.isNaN(Date.parse(d.recorded))) throw bad('recorded', 'must be an instant');
  const expected = d.outcome === null || d.outcome === '0' ? 'reported-success' : 'reported-failure';
  if (d.decision !== expected) throw bad('decision', `must be ${expected} for outcome ${String(d.outcome)}`);
  return { type: 'AccessReported', data: d };
}

export function decideAccess(command: DecideAccess): AccessDecided {
  assertRequest(command);
  const base = {
    resourceType: command.resourceType,
    resourceId: command.resourceId,
    action: command.action,
    purpose: command.purpose,
    consentVersion: command.consent.version,
    policyVersion: command.policyVersion,
    ...(command.dicom ? { dicom: command.dicom } : {}),
  };
  if (command.resource === null) {
    return {
      type: 'AccessDecided',
      data: { ...base, patientId: null, decision: 'DENY', rule: 'unknown-resource', reason: `no ${command.resourceType} ${command.resourceId} is known`, emergency: false },
    };
  }
  const { patientId } = command.resource;
  const d = decideDataAccess(command.principal, command.action, { resourceType: command.resourceType, patientId, purpose: command.purpose, consentGranted: command.consent.granted }, command.emergencyReason);
  let demographics: AccessDecidedData['demographics'];
  if (command.demographics) {
    const entitled = ruleFor(command.principal, 'read', 'ImageDemographics', { patientId }) !== undefined;
    const own = command.principal.patientId === patientId;
    demographics = d.decision === 'PERMIT' && entitled && (own || d.emergency || command.demographics.consentGranted) ? 'included' : 'withheld';
  }
  const data: AccessDecidedData = {
    ...base,
    patientId,
    ...(command.resource.datasetId ? { datasetId: command.resource.datasetId } : {}),
    decision: d.decision,
    rule: d.rule,
    reason: d.reason,
    emergency: d.emergency,
    ...(d.emergency && command.emergencyReason ? { emergencyReason: command.emergencyReason.trim() } : {}),
    ...(demographics ? { demographics } : {}),
  };
  return { type: 'AccessDecided', data };
}

/**
 * Whether a refusal must look like "no such resource" to this caller: a patient asking for
 * something that is not theirs learns nothing about whether it exists.
 */
/**
 * What the access trail's NOT NULL columns and every reader of AccessDecided rely on, checked
 * whatever transport sent the command: the resource type, action and purpose from the
 * vocabulary, a resource id, an actor, a reason that is text if given.
 */
function assertRequest(command: DecideAccess): void {
  const bad = (field: string, why: string) => new ValidationError(`${field} ${why}`, { field }, 'bad-access-request');
  if (!(RESOURCE_TYPES as readonly unknown[]).includes(command.resourceType)) throw bad('resourceType', `must be one of ${RESOURCE_TYPES.join(', ')}`);
  if (!(DATA_ACTIONS as readonly unknown[]).includes(command.action)) throw bad('action', `must be one of ${DATA_ACTIONS.join(', ')}`);
  if (!(PURPOSES as readonly unknown[]).includes(command.purpose)) throw bad('purpose', `must be one of ${PURPOSES.join(', ')}`);
  if (typeof command.resourceId !== 'string' || command.resourceId.length < 1 || command.resourceId.length > 200) throw bad('resourceId', 'must be text of 1-200 characters');
  if (typeof command.principal?.sub !== 'string' || command.principal.sub.length < 1 || !Array.isArray(command.principal.roles)) throw bad('principal', 'must name an actor and roles');
  if (command.emergencyReason !== undefined && typeof command.emergencyReason !== 'string') throw bad('emergencyReason', 'must be text');
  if (command.dicom !== undefined) {
    const d = command.dicom as Partial<DicomAccess> | null;
    if (typeof d !== 'object' || d === null || !(DICOM_LEVELS as readonly unknown[]).includes(d.level) || typeof d.studyUid !== 'string' || typeof d.deidentified !== 'boolean' || !['token', 'query', 'header'].includes(d.purposeSource as string)) throw bad('dicom', 'must name the level, the study, the purpose source and whether it is de-identified');
  }
  if (command.resource !== null && (typeof command.resource !== 'object' || typeof command.resource.patientId !== 'string' || command.resource.patientId.length < 1)) throw bad('resource', 'must name its patient');
}

export function conceals(principal: Principal, decided: AccessDecidedData): boolean {
  if (decided.decision !== 'DENY') return false;
  if (decided.patientId === null) return true;
  return principal.roles.includes('patient') && principal.patientId !== decided.patientId;
}

/**
 * The access stream of one patient: append-only, so the decider needs no history (the shell
 * appends with expected version `any`, conditional on the consent version read).
 */
export const accessDecider: Decider<null, AccessCommand, AccessEvent> = {
  initialState: null,
  evolve: () => null,
  decide(command) {
    if (command.type === 'DecideAccess') return [decideAccess(command)];
    if (command.type === 'RecordRouteDenied') return [{ type: 'RouteAccessDenied', data: command.data }];
    if (command.type === 'RecordDicomTransfer') return [{ type: 'DicomTransferEnded', data: command.data }];
    if (command.type === 'RecordDicomSearch') return [{ type: 'DicomSearchRecorded', data: command.data }];
    if (command.type === 'RecordReportedAccess') return [reportAccess(command)];
    return [{ type: 'AuditDataRead', data: command.data }];
  },
};

export interface ReviewEmergencyAccess {
  readonly type: 'ReviewEmergencyAccess';
  readonly accessEventId: string;
  readonly verdict: 'justified' | 'unjustified';
  readonly note: string;
  /** The access being reviewed, as loaded from the log (undefined: no such event). */
  readonly access: AccessDecided | undefined;
}

/** One review stream per emergency access: closed once, with a verdict. */
export const reviewDecider: Decider<{ reviewed: boolean }, ReviewEmergencyAccess, EmergencyAccessReviewed> = {
  initialState: { reviewed: false },
  evolve: () => ({ reviewed: true }),
  decide(command, state) {
    const { access } = command;
    if (!access) throw new NotFoundError(`no access decision ${command.accessEventId}`, { eventId: command.accessEventId });
    if (!access.data.emergency || access.data.patientId === null) throw new ValidationError(`access ${command.accessEventId} was not an emergency access`, { eventId: command.accessEventId }, 'not-emergency-access');
    if (state.reviewed) throw new AlreadyExistsError(`emergency access ${command.accessEventId} has already been reviewed`, { eventId: command.accessEventId }, 'already-reviewed');
    return [{ type: 'EmergencyAccessReviewed', data: { accessEventId: command.accessEventId, patientId: access.data.patientId, verdict: command.verdict, note: command.note } }];
  },
};

/** A policy version is recorded once, the first time a gateway runs under it. */
export const policyDecider: Decider<{ active: boolean }, { type: 'ActivatePolicy'; data: PolicyActivatedData }, PolicyActivated> = {
  initialState: { active: false },
  evolve: () => ({ active: true }),
  decide: (command, state) => (state.active ? [] : [{ type: 'PolicyActivated', data: command.data }]),
};
