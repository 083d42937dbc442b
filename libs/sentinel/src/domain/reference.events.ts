import type { Decider, PersonalFields } from '@custos/decider';
import { assertReference } from './reference.invariants.js';
import { ForbiddenError } from '@custos/errors';
import { sameActor } from '@custos/vocabulary';

/**
 * Reference data the rules need: who patients and staff are. Names and addresses are personal
 * (sealed); the rules compare blind indexes of them (a keyed hash made by the gateway), so the
 * sentinel never holds a key or a name.
 */
export interface PatientProfileRecordedData {
  readonly patientId: string;
  readonly familyName: string;
  readonly address: string;
  /** State, province or jurisdiction of residence (HIPAA's media clock counts residents per state). */
  readonly region: string;
  /** ISO 3166-1 alpha-2. */
  readonly country: string;
  readonly euDataSubject: boolean;
  readonly vip: boolean;
  readonly employee: boolean;
  readonly familyNameIndex: string;
  readonly addressIndex: string;
}

export interface WorkforceMemberRecordedData {
  readonly actorId: string;
  readonly familyName: string;
  readonly address: string;
  /** Sealed (with the name it can single a person out); compared by its blind index. */
  readonly department: string;
  readonly status: 'active' | 'terminated';
  /** Since when the status holds (ISO date-time). */
  readonly since: string;
  /** The member's own patient record, when they are a patient too (self-access). */
  readonly patientId: string | null;
  readonly familyNameIndex: string;
  readonly addressIndex: string;
  /** Absent on records made before departments were sealed. */
  readonly departmentIndex?: string;
}

export type PatientProfileRecorded = { readonly type: 'PatientProfileRecorded'; readonly data: PatientProfileRecordedData };
export type WorkforceMemberRecorded = { readonly type: 'WorkforceMemberRecorded'; readonly data: WorkforceMemberRecordedData };
export type ReferenceEvent = PatientProfileRecorded | WorkforceMemberRecorded;

export const REFERENCE_PERSONAL: PersonalFields<ReferenceEvent> = {
  PatientProfileRecorded: ['familyName', 'address'],
  WorkforceMemberRecorded: ['familyName', 'address', 'department'],
};

export const profileStreamId = (patientId: string) => `patient-profile-${patientId}`;
export const workforceStreamId = (actorId: string) => `workforce-${actorId}`;

/**
 * Record a profile or a workforce member. `recordedBy`: who records it; `recorder`: their own
 * workforce record, if any (the handler reads it), to tell whether they are related to the patient.
 */
export interface RecordReference {
  readonly type: 'Record';
  readonly event: ReferenceEvent;
  readonly recordedBy?: string;
  readonly recorder?: WorkforceMemberRecordedData | null;
}

/** Ids compared as an identity provider might (the shared fold of the vocabulary), re-exported for the incident decider. */
export { sameActor };

/**
 * Whether a member of staff is related to a patient the way the sentinel's `relationship` rule
 * sees it: the patient is the member (their own patient id), or shares their family name or
 * address (blind indexes, of the profile being recorded or of the one recorded before).
 */
export function relatedTo(member: Pick<WorkforceMemberRecordedData, 'patientId' | 'familyNameIndex' | 'addressIndex'>, profiles: ReadonlyArray<Pick<PatientProfileRecordedData, 'patientId' | 'familyNameIndex' | 'addressIndex'>>): boolean {
  return profiles.some((p) => member.patientId === p.patientId || member.familyNameIndex === p.familyNameIndex || member.addressIndex === p.addressIndex);
}

/**
 * Recording what is already recorded records nothing (an idempotent PUT); the blind indexes
 * stand for the sealed parts. Nobody edits reference data about themselves (403
 * separation-of-duties): not their own workforce record, and no part of the profile of a patient
 * they are related to, as the profile stands (the stored one) or as it would stand after the
 * change; a first profile too. Refusing only flag changes let a related steward rename the
 * patient away, drop the VIP flag, and rename them back. The rules read these records: an edit
 * of one's own would blind them.
 */
export const referenceDecider: Decider<ReferenceEvent | null, RecordReference, ReferenceEvent> = {
  initialState: null,
  evolve: (_state, event) => event,
  decide(command, state) {
    const e = command.event;
    assertReference(e);
    if (e.type === 'WorkforceMemberRecorded' && command.recordedBy !== undefined && sameActor(e.data.actorId, command.recordedBy)) {
      throw new ForbiddenError('nobody records their own workforce record: another admin does', undefined, 'separation-of-duties');
    }
    if (e.type === 'PatientProfileRecorded' && command.recorder) {
      const before = state?.type === 'PatientProfileRecorded' ? state.data : null;
      if (relatedTo(command.recorder, before ? [e.data, before] : [e.data])) {
        throw new ForbiddenError("nobody records the profile of a patient they are related to (as it stands or as it would stand): another steward does", { patientId: e.data.patientId }, 'separation-of-duties');
      }
    }
    if (state && sameRecord(state, e)) return [];
    return [e];
  },
};

function sameRecord(a: ReferenceEvent, b: ReferenceEvent): boolean {
  const strip = (e: ReferenceEvent) => {
    const { familyName: _f, address: _a, department: _d, sealed: _s, ...rest } = e.data as unknown as Record<string, unknown>;
    return JSON.stringify(Object.entries(rest).sort(([x], [y]) => x.localeCompare(y)));
  };
  return a.type === b.type && strip(a) === strip(b);
}
