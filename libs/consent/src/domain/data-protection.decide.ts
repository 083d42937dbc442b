import type { Decider } from '@custos/decider';
import { ConflictError } from '@custos/errors';
import type { DataProtectionEvent, KeysRotated, KeysRotatedData } from './data-protection.events.js';

/** One patient's data-protection state: whether a legal hold is on, and how often erased. */
export interface DataProtectionState {
  readonly legalHold: { readonly active: boolean; readonly reference: string | null };
  readonly erasures: number;
}

export type SetLegalHold = { readonly type: 'SetLegalHold'; readonly patientId: string; readonly active: boolean; readonly reference: string };
/** `keys`: the data keys of the patient that exist now (read by the shell's caller from the key service). */
export type ErasePatientData = { readonly type: 'ErasePatientData'; readonly patientId: string; readonly reference: string; readonly keys: readonly string[] };
export type DataProtectionCommand = SetLegalHold | ErasePatientData;

export const dataProtectionDecider: Decider<DataProtectionState, DataProtectionCommand, DataProtectionEvent> = {
  initialState: { legalHold: { active: false, reference: null }, erasures: 0 },
  evolve(state, event) {
    if (event.type === 'LegalHoldChanged') return { ...state, legalHold: { active: event.data.active, reference: event.data.reference } };
    return { ...state, erasures: state.erasures + 1 };
  },
  decide(command, state) {
    if (command.type === 'SetLegalHold') {
      // Setting what is already set records nothing (an idempotent PUT).
      if (state.legalHold.active === command.active && state.legalHold.reference === command.reference) return [];
      return [{ type: 'LegalHoldChanged', data: { patientId: command.patientId, active: command.active, reference: command.reference } }];
    }
    if (state.legalHold.active) {
      throw new ConflictError('a legal hold is set on this patient: erasure must wait until it is lifted', { legalHold: state.legalHold.reference }, 'legal-hold');
    }
    // Erasing again is allowed (keys made since are destroyed too), and recorded again.
    return [{ type: 'PatientDataErased', data: { patientId: command.patientId, reference: command.reference, keysDestroyed: [...command.keys] } }];
  },
};

/** Key rotation is recorded on its own stream; the decider only writes down what happened. */
export const keysDecider: Decider<null, { readonly type: 'RecordRotation'; readonly rotation: KeysRotatedData }, KeysRotated> = {
  initialState: null,
  evolve: () => null,
  decide: (command) => [{ type: 'KeysRotated', data: command.rotation }],
};
