import { decideDataAccess, DataAction, DataDecision, Principal, Purpose, ResourceType } from '@custos/authz';
import type { AccessDecided, AccessDecidedData, EmergencyAccessReviewed } from './access.events.js';
import type { ImageRegistered } from './image.events.js';

/**
 * Pure deciders of the access context: no framework, no I/O, no clock. Time, ids and what
 * the handler loaded (the resource, the consent) come in as arguments.
 */
export interface RequestAccess {
  readonly principal: Principal;
  readonly resourceType: ResourceType;
  readonly resourceId: string;
  readonly action: DataAction;
  readonly purpose: Purpose;
  readonly emergencyReason?: string;
}

export interface AccessContext {
  /** The patient the resource belongs to; null when Custos does not know the resource. */
  readonly patientId: string | null;
  readonly consent: { readonly granted: boolean; readonly version: number };
}

export function decideAccessRequest(command: RequestAccess, context: AccessContext): AccessDecided {
  const base = { resourceType: command.resourceType, resourceId: command.resourceId, action: command.action, purpose: command.purpose, consentVersion: context.consent.version };
  if (context.patientId === null) {
    return {
      type: 'AccessDecided',
      data: { ...base, patientId: null, decision: 'DENY', rule: 'unknown-resource', reason: `no ${command.resourceType} ${command.resourceId} is known`, emergency: false },
    };
  }
  const d: DataDecision = decideDataAccess(
    command.principal,
    command.action,
    { resourceType: command.resourceType, patientId: context.patientId, purpose: command.purpose, consentGranted: context.consent.granted },
    command.emergencyReason,
  );
  const data: AccessDecidedData = {
    ...base,
    patientId: context.patientId,
    decision: d.decision,
    rule: d.rule,
    reason: d.reason,
    emergency: d.emergency,
    ...(d.emergency && command.emergencyReason ? { emergencyReason: command.emergencyReason.trim() } : {}),
  };
  return { type: 'AccessDecided', data };
}

export interface ReviewEmergencyAccess {
  readonly accessEventId: string;
  readonly verdict: 'justified' | 'unjustified';
  readonly note: string;
}

export type ReviewOutcome = { ok: true; event: EmergencyAccessReviewed } | { ok: false; error: 'not-found' | 'not-emergency' };

/** Closes an emergency access in the review queue; the access must exist and be an emergency. */
export function decideReview(command: ReviewEmergencyAccess, access: AccessDecided | undefined): ReviewOutcome {
  if (!access) return { ok: false, error: 'not-found' };
  if (!access.data.emergency || access.data.patientId === null) return { ok: false, error: 'not-emergency' };
  return {
    ok: true,
    event: { type: 'EmergencyAccessReviewed', data: { accessEventId: command.accessEventId, patientId: access.data.patientId, verdict: command.verdict, note: command.note } },
  };
}

/** Registers an image once; a second registration of the same id is refused. */
export function decideRegisterImage(command: ImageRegistered['data'], existing: readonly ImageRegistered[]): { ok: true; event: ImageRegistered } | { ok: false; error: 'already-exists' } {
  if (existing.length > 0) return { ok: false, error: 'already-exists' };
  return { ok: true, event: { type: 'ImageRegistered', data: command } };
}
