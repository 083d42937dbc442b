/**
 * Pseudonyms for de-identified DICOM: a keyed hash (HMAC-SHA256) of the identifier and the
 * dataset, so the same patient (or UID) in the same dataset always gets the same pseudonym,
 * another dataset gets another one (two releases cannot be joined on it), and nobody without
 * the key can go back to the MRN or the archive's UID, nor test a guessed MRN against it.
 *
 * The key is 32 raw bytes held by the caller (the key service's data key of owner
 * 'dicom-pseudonyms'); these functions are pure and never store or log it.
 */
import { createHmac } from 'node:crypto';

/** The key service's owner name for the pseudonym key. */
export const PSEUDONYM_KEY_OWNER = 'dicom-pseudonyms';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function hmac(key: Uint8Array, kind: 'patient' | 'uid', value: string, datasetId: string): Buffer {
  if (!(key instanceof Uint8Array) || key.byteLength !== 32) {
    throw new TypeError('the pseudonym key must be 32 raw bytes');
  }
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${kind} to pseudonymise must be a non-empty string`);
  if (typeof datasetId !== 'string' || datasetId.length === 0) throw new TypeError('datasetId must be a non-empty string');
  // JSON of a tuple: unambiguous (no separator that a value could contain), and the kind
  // separates the two uses of one key (a patient id that looks like a UID gets another hash).
  return createHmac('sha256', key).update(JSON.stringify(['custos-deid-v1', kind, datasetId, value]), 'utf8').digest();
}

/** RFC 4648 base32 (no padding) of the first `chars` × 5 bits of `bytes`. */
function base32(bytes: Uint8Array, chars: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
    if (out.length === chars) break;
  }
  return out;
}

/**
 * The pseudonymous PatientID of `patientId` (the archive's PatientID, qualified by its
 * IssuerOfPatientID where the caller has one) in `datasetId`: `PSN-` and 26 base32 characters
 * (130 bits of the HMAC), 30 characters of [A-Z2-7-], a valid LO (≤ 64, no backslash) and PN.
 */
export function pseudonymPatientId(key: Uint8Array, patientId: string, datasetId: string): string {
  return `PSN-${base32(hmac(key, 'patient', patientId, datasetId), 26)}`;
}

/**
 * The pseudonymous UID of `uid` in `datasetId`: `2.25.` and the decimal of the first 128 bits
 * of the HMAC (PS3.5 B.2, a UUID-derived UID), at most 44 characters, no leading zero in
 * a component. The same (uid, dataset) always gives the same UID, so a study's instances,
 * anonymised one by one and on different days, stay one study.
 */
export function pseudonymUid(key: Uint8Array, uid: string, datasetId: string): string {
  const digest = hmac(key, 'uid', uid, datasetId);
  return `2.25.${BigInt(`0x${digest.subarray(0, 16).toString('hex')}`).toString(10)}`;
}

/** A valid DICOM UID (PS3.5 9.1): ≤ 64 characters, digit components, no leading zero. */
export function isDicomUid(value: string): boolean {
  return value.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/.test(value);
}
