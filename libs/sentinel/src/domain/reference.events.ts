import type { Decider, PersonalFields } from '@custos/decider';
import { assertReference } from './reference.invariants.js';

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
  readonly department: string;
  readonly status: 'active' | 'terminated';
  /** Since when the status holds (ISO date-time). */
  readonly since: string;
  /** The member's own patient record, when they are a patient too (self-access). */
  readonly patientId: string | null;
  readonly familyNameIndex: string;
  readonly addressIndex: string;
}

export type PatientProfileRecorded = { readonly type: 'PatientProfileRecorded'; readonly data: PatientProfileRecordedData };
export type WorkforceMemberRecorded = { readonly type: 'WorkforceMemberRecorded'; readonly data: WorkforceMemberRecordedData };
export type ReferenceEvent = PatientProfileRecorded | WorkforceMemberRecorded;

export const REFERENCE_PERSONAL: PersonalFields<ReferenceEvent> = {
  PatientProfileRecorded: ['familyName', 'address'],
  WorkforceMemberRecorded: ['familyName', 'address'],
};

export const profileStreamId = (patientId: string) => `patient-profile-${patientId}`;
export const workforceStreamId = (actorId: string) => `workforce-${actorId}`;

/** Recording what is already recorded records nothing (an idempotent PUT); the blind indexes stand for the sealed parts. */
export const referenceDecider: Decider<ReferenceEvent | null, { readonly type: 'Record'; readonly event: ReferenceEvent }, ReferenceEvent> = {
  initialState: null,
  evolve: (_state, event) => event,
  decide(command, state) {
    assertReference(command.event);
    if (state && sameRecord(state, command.event)) return [];
    return [command.event];
  },
};

function sameRecord(a: ReferenceEvent, b: ReferenceEvent): boolean {
  const strip = (e: ReferenceEvent) => {
    const { familyName: _f, address: _a, sealed: _s, ...rest } = e.data as unknown as Record<string, unknown>;
    return JSON.stringify(Object.entries(rest).sort(([x], [y]) => x.localeCompare(y)));
  };
  return a.type === b.type && strip(a) === strip(b);
}
