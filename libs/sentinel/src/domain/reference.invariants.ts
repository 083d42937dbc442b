import { REGION_CODE } from '@custos/vocabulary';
import { ValidationError } from '@custos/errors';

const ID = /^[A-Za-z0-9._-]{1,100}$/;
const ACTOR = /^[\x21-\x7e]{1,200}$/;
const COUNTRY = /^[A-Z]{2}$/;

/**
 * What the readers of reference data rely on (the patient-profiles read model's NOT NULL
 * region, country and flags; the sentinel's rules, which compare blind indexes and dates),
 * checked by the decider whatever transport sent the record. The refusal names the field,
 * never its value (names and addresses are personal).
 */
export function assertReference(event: { readonly type: 'PatientProfileRecorded' | 'WorkforceMemberRecorded'; readonly data: unknown }): void {
  const bad = (field: string, why: string) => new ValidationError(`${field} ${why}`, { field }, 'bad-reference');
  const d = event.data;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw bad('record', 'must be an object');
  const r = d as Record<string, unknown>;
  const text = (field: string, max: number) => {
    const v = r[field];
    if (typeof v !== 'string' || v.length < 1 || v.length > max) throw bad(field, `must be text of 1-${max} characters`);
  };
  text('familyName', 200);
  text('address', 500);
  text('familyNameIndex', 200);
  text('addressIndex', 200);
  if (event.type === 'PatientProfileRecorded') {
    if (typeof r.patientId !== 'string' || !ID.test(r.patientId)) throw bad('patientId', 'must be 1-100 letters, digits or ._-');
    if (typeof r.region !== 'string' || !REGION_CODE.test(r.region)) throw bad('region', 'must be a region code (CA, US-CA, FR-IDF, EU)');
    if (typeof r.country !== 'string' || !COUNTRY.test(r.country)) throw bad('country', 'must be an ISO 3166-1 alpha-2 code');
    for (const flag of ['euDataSubject', 'vip', 'employee']) if (typeof r[flag] !== 'boolean') throw bad(flag, 'must be true or false');
    return;
  }
  if (typeof r.actorId !== 'string' || !ACTOR.test(r.actorId)) throw bad('actorId', 'must be 1-200 printable ASCII characters');
  text('department', 200);
  if (r.status !== 'active' && r.status !== 'terminated') throw bad('status', 'must be active or terminated');
  if (typeof r.since !== 'string' || Number.isNaN(Date.parse(r.since))) throw bad('since', 'must be an instant');
  if (r.patientId !== null && (typeof r.patientId !== 'string' || !ID.test(r.patientId))) throw bad('patientId', 'must be null or 1-100 letters, digits or ._-');
}
