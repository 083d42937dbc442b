import { given } from '@custos/testing';
import { referenceDecider, type ReferenceEvent } from './reference.events.js';

const profile: ReferenceEvent = {
  type: 'PatientProfileRecorded',
  data: { patientId: 'p1', familyName: 'Roe', address: '1 Main St', region: 'CA', country: 'US', euDataSubject: false, vip: false, employee: false, familyNameIndex: 'f'.repeat(64), addressIndex: 'a'.repeat(64) },
};
const member: ReferenceEvent = {
  type: 'WorkforceMemberRecorded',
  data: { actorId: 'dr-1', familyName: 'Doe', address: '2 Side St', department: 'radiology', status: 'active', since: '2026-01-01T00:00:00.000Z', patientId: null, familyNameIndex: 'f'.repeat(64), addressIndex: 'a'.repeat(64) },
};
const record = (event: ReferenceEvent) => ({ type: 'Record' as const, event });
const withData = (event: ReferenceEvent, change: Record<string, unknown>) => ({ ...event, data: { ...event.data, ...change } }) as unknown as ReferenceEvent;

describe('referenceDecider', () => {
  it('records a profile and a workforce member, and the same again records nothing', () => {
    given(referenceDecider, []).when(record(profile)).then([profile]);
    given(referenceDecider, [profile]).when(record(profile)).then([]);
    given(referenceDecider, []).when(record(member)).then([member]);
    given(referenceDecider, []).when(record(withData(member, { patientId: 'p1' }))).then([withData(member, { patientId: 'p1' })]);
  });

  it('refuses a profile its read model could not take (region, country, flags NOT NULL), whatever transport sent it', () => {
    for (const change of [{ region: undefined }, { region: null }, { region: [] }, { country: 'usa' }, { country: undefined }, { vip: 'yes' }, { euDataSubject: null }, { employee: undefined }, { patientId: '' }, { familyName: [] }]) {
      given(referenceDecider, []).when(record(withData(profile, change))).thenFails('bad-reference');
    }
    given(referenceDecider, []).when(record({ type: 'PatientProfileRecorded', data: [] } as unknown as ReferenceEvent)).thenFails('bad-reference');
  });

  it('refuses a workforce record the rules could not read', () => {
    for (const change of [{ status: 'on-leave' }, { since: 'yesterday' }, { since: null }, { department: '' }, { actorId: 'a b' }, { patientId: [] }, { address: undefined }]) {
      given(referenceDecider, []).when(record(withData(member, change))).thenFails('bad-reference');
    }
  });
});
