import { randomBytes } from 'node:crypto';
import { isDicomUid, pseudonymPatientId, pseudonymUid } from './pseudonyms.js';

describe('pseudonyms', () => {
  const key = randomBytes(32);
  const otherKey = randomBytes(32);

  it('gives a patient the same PatientID pseudonym in one dataset, another in another dataset or under another key', () => {
    const p = pseudonymPatientId(key, 'MRN0012345', 'ds-1');
    expect(pseudonymPatientId(key, 'MRN0012345', 'ds-1')).toBe(p);
    expect(pseudonymPatientId(Buffer.from(key), 'MRN0012345', 'ds-1')).toBe(p);
    expect(pseudonymPatientId(key, 'MRN0012345', 'ds-2')).not.toBe(p);
    expect(pseudonymPatientId(otherKey, 'MRN0012345', 'ds-1')).not.toBe(p);
    expect(pseudonymPatientId(key, 'MRN0012346', 'ds-1')).not.toBe(p);
  });

  it('makes a valid LO (and PN) that never contains the MRN: PSN- and 26 base32 characters', () => {
    for (const mrn of ['MRN0012345', '1', 'A'.repeat(64), 'ÉLODIE^42', '12345678901234567890']) {
      const p = pseudonymPatientId(key, mrn, 'ds-1');
      expect(p).toMatch(/^PSN-[A-Z2-7]{26}$/);
      expect(p.length).toBeLessThanOrEqual(64);
      if (mrn.length > 2) expect(p).not.toContain(mrn);
    }
    // 10,000 patients, no collision (130 bits).
    const seen = new Set(Array.from({ length: 10_000 }, (_, i) => pseudonymPatientId(key, `MRN${i}`, 'ds-1')));
    expect(seen.size).toBe(10_000);
  });

  it('does not join the two uses of the key: a patient id that is a UID gets another value than the UID', () => {
    const uid = '1.2.840.113619.2.55.3.604688119.969.1268071029.320';
    expect(pseudonymPatientId(key, uid, 'ds-1')).not.toContain(pseudonymUid(key, uid, 'ds-1').slice(5, 15));
    // The dataset and the value are not concatenated ambiguously.
    expect(pseudonymUid(key, '1.2', '3.4')).not.toBe(pseudonymUid(key, '1.23', '.4'));
  });

  it('maps a UID to a stable, valid 2.25 UID (≤ 64 characters, no leading zero), another per dataset', () => {
    const uid = '1.2.840.113619.2.55.3.604688119.969.1268071029.320';
    const u = pseudonymUid(key, uid, 'ds-1');
    expect(u).toMatch(/^2\.25\.[1-9][0-9]*$/);
    expect(isDicomUid(u)).toBe(true);
    expect(u.length).toBeLessThanOrEqual(44);
    expect(BigInt(u.slice(5))).toBeLessThan(2n ** 128n);
    expect(pseudonymUid(key, uid, 'ds-1')).toBe(u);
    expect(pseudonymUid(key, uid, 'ds-2')).not.toBe(u);
    expect(pseudonymUid(key, `${uid}1`, 'ds-1')).not.toBe(u);
    for (let i = 0; i < 2000; i++) expect(isDicomUid(pseudonymUid(key, `1.2.3.${i}`, 'ds-1'))).toBe(true);
  });

  it('refuses a key that is not 32 bytes, and empty identifiers', () => {
    expect(() => pseudonymPatientId(randomBytes(16), 'MRN1', 'ds-1')).toThrow('32 raw bytes');
    expect(() => pseudonymUid(new Uint8Array(33), '1.2.3', 'ds-1')).toThrow('32 raw bytes');
    expect(() => pseudonymPatientId('x'.repeat(32) as unknown as Uint8Array, 'MRN1', 'ds-1')).toThrow('32 raw bytes');
    expect(() => pseudonymPatientId(key, '', 'ds-1')).toThrow(TypeError);
    expect(() => pseudonymUid(key, '1.2.3', '')).toThrow(TypeError);
  });

  it('checks UIDs', () => {
    expect(isDicomUid('1.2.840.10008.1.2.1')).toBe(true);
    expect(isDicomUid('1.02.3')).toBe(false);
    expect(isDicomUid('1')).toBe(false);
    expect(isDicomUid(`1.${'2'.repeat(63)}`)).toBe(false);
  });
});
