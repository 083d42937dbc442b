/**
 * Data-protection events of one patient (stream `patient-<id>`): legal holds and erasure
 * (GDPR Art. 17 by crypto-shredding). No personal field: the references are case or ticket
 * numbers, and an erasure must not make a new data key for the patient it erases.
 */
export interface LegalHoldChangedData {
  readonly patientId: string;
  readonly active: boolean;
  /** The case, litigation or investigation the hold is for. */
  readonly reference: string;
}

export interface PatientDataErasedData {
  readonly patientId: string;
  /** The patient's request (ticket, letter) the erasure answers. */
  readonly reference: string;
  /** The data keys destroyed: every personal field sealed under them now reads `{"erased": true}`. */
  readonly keysDestroyed: readonly string[];
}

export type LegalHoldChanged = { readonly type: 'LegalHoldChanged'; readonly data: LegalHoldChangedData };
export type PatientDataErased = { readonly type: 'PatientDataErased'; readonly data: PatientDataErasedData };
export type DataProtectionEvent = LegalHoldChanged | PatientDataErased;

/** Key rotations (stream `keys-admin`): what was rotated, by whom (metadata), which kids. */
export interface KeysRotatedData {
  readonly kind: 'kek' | 'signing';
  readonly previous: readonly string[];
  readonly active: readonly string[];
  /** Wrapped keys rewrapped (KEK rotation). */
  readonly rewrapped: number;
}
export type KeysRotated = { readonly type: 'KeysRotated'; readonly data: KeysRotatedData };

export function patientStreamId(patientId: string): string {
  return `patient-${patientId}`;
}

export const KEYS_STREAM = 'keys-admin';
