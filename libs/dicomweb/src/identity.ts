import { ValidationError } from '@custos/errors';
import { PURPOSE_CODES, type Purpose, PURPOSES } from '@custos/vocabulary';
import type { DicomJson } from './dicom-json.js';
import { TAG, textOf } from './dicom-json.js';

/** A DICOM UID (PS3.5 9.1): numeric components separated by dots, no leading zeros, at most 64 characters. */
export const UID = /^(?=.{1,64}$)(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;
const CUSTOS_ID = /^[A-Za-z0-9._-]{1,100}$/;

export function assertUid(name: string, value: string | undefined): string {
  if (value === undefined || !UID.test(value)) throw new ValidationError(`${name} must be a DICOM UID (digits and dots, at most 64 characters)`, { field: name }, 'bad-uid');
  return value;
}

/**
 * The Custos patient id of a DICOM instance: its PatientID, when IssuerOfPatientID is absent or
 * the hospital's own (DICOMWEB_LOCAL_ISSUER). Another issuer's PatientID names a patient of another
 * domain, who may share the number with one of ours: such instances are not taken (null), and
 * neither are PatientIDs Custos cannot use as an id (empty, or characters outside letters, digits and ._-).
 */
export function patientIdOf(item: DicomJson, localIssuer: string | null): { patientId: string } | { refused: 'no-patient-id' | 'patient-id-unusable' | 'foreign-issuer' } {
  const pid = textOf(item, TAG.PatientID);
  if (!pid) return { refused: 'no-patient-id' };
  if (!CUSTOS_ID.test(pid)) return { refused: 'patient-id-unusable' };
  const issuer = textOf(item, TAG.IssuerOfPatientID);
  if (issuer && issuer !== localIssuer) return { refused: 'foreign-issuer' };
  return { patientId: pid };
}

export type PurposeSource = 'token' | 'query' | 'header';

/** Custos purposes by name, or by their HL7 v3 PurposeOfUse code (what IHE IUA tokens carry). */
const BY_CODE = new Map<string, Purpose>([...PURPOSES.map((p) => [p, p] as const), ...PURPOSES.map((p) => [PURPOSE_CODES[p].code, p] as const)]);

/**
 * The purpose of use of a DICOMweb read: the token's `purpose_of_use` claim first (the identity
 * provider asserted it), else the `purpose` query parameter, else the X-Purpose-Of-Use header.
 * None → 400 purpose-required; an unknown one → 400 bad-purpose; a query or header that names
 * another purpose than the token → 400 purpose-conflict (the token's word is not overridden).
 */
export function purposeOf(token: string | undefined, query: unknown, header: unknown): { purpose: Purpose; source: PurposeSource } {
  const given: Array<[PurposeSource, unknown]> = [
    ['token', token],
    ['query', query],
    ['header', header],
  ];
  let found: { purpose: Purpose; source: PurposeSource } | undefined;
  for (const [source, raw] of given) {
    if (raw === undefined || raw === '') continue;
    if (typeof raw !== 'string') throw new ValidationError(`the purpose (${source}) must be given once`, { field: 'purpose' }, 'bad-purpose');
    const purpose = BY_CODE.get(raw.trim());
    if (!purpose) throw new ValidationError(`the purpose (${source}) must be one of ${PURPOSES.join(', ')} or its HL7 PurposeOfUse code`, { field: 'purpose' }, 'bad-purpose');
    if (!found) found = { purpose, source };
    else if (found.purpose !== purpose) throw new ValidationError(`the purpose (${source}) contradicts the ${found.source}'s`, { field: 'purpose' }, 'purpose-conflict');
  }
  if (!found) throw new ValidationError('a purpose of use is required: the token claim purpose_of_use, the purpose query parameter or the X-Purpose-Of-Use header', { field: 'purpose' }, 'purpose-required');
  return found;
}
