import { given } from '@custos/testing';
import { type PatientProfileRecordedData, referenceDecider, type ReferenceEvent, type WorkforceMemberRecordedData } from './reference.events.js';

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

const memberData = (over: Partial<WorkforceMemberRecordedData> = {}): WorkforceMemberRecordedData => ({
  actorId: 'adm-1',
  familyName: 'Roe',
  address: '2 Main St',
  department: 'IT',
  status: 'active',
  since: '2020-01-01T00:00:00.000Z',
  patientId: null,
  familyNameIndex: 'fn-roe',
  addressIndex: 'ad-2-main',
  ...over,
});
const profileData = (over: Partial<PatientProfileRecordedData> = {}): PatientProfileRecordedData => ({
  patientId: 'p1',
  familyName: 'Doe',
  address: '1 Main St',
  region: 'CA',
  country: 'US',
  euDataSubject: false,
  vip: true,
  employee: false,
  familyNameIndex: 'fn-doe',
  addressIndex: 'ad-1-main',
  ...over,
});

describe('reference data: nobody edits what is about themselves (403 separation-of-duties)', () => {
  it('given an admin, when they record their own workforce record, then it is refused; another admin may', () => {
    given(referenceDecider, [{ type: 'WorkforceMemberRecorded', data: memberData() }])
      .when({ type: 'Record', event: { type: 'WorkforceMemberRecorded', data: memberData({ patientId: null, status: 'active' }) }, recordedBy: 'adm-1' })
      .thenFails('separation-of-duties');
    given(referenceDecider, []).when({ type: 'Record', event: { type: 'WorkforceMemberRecorded', data: memberData({ actorId: 'ADM-1' }) }, recordedBy: 'adm-1' }).thenFails('separation-of-duties');
    given(referenceDecider, []).when({ type: 'Record', event: { type: 'WorkforceMemberRecorded', data: memberData() }, recordedBy: 'adm-2' }).then([{ type: 'WorkforceMemberRecorded', data: memberData() }]);
  });

  it("given a steward who is the patient (their own patient id), shares the patient's family name or address, when they set the VIP or employee flags, then it is refused", () => {
    const before = { type: 'PatientProfileRecorded' as const, data: profileData() };
    for (const recorder of [memberData({ actorId: 'stew-1', patientId: 'p1' }), memberData({ actorId: 'stew-1', familyNameIndex: 'fn-doe' }), memberData({ actorId: 'stew-1', addressIndex: 'ad-1-main' })]) {
      given(referenceDecider, [before]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profileData({ vip: false }) }, recordedBy: 'stew-1', recorder }).thenFails('separation-of-duties');
      given(referenceDecider, []).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profileData({ vip: false }) }, recordedBy: 'stew-1', recorder }).thenFails('separation-of-duties');
    }
  });

  it('given a related steward, when they change any part of the profile (the flags kept), then it is refused; an unrelated steward may change the flags', () => {
    const before = { type: 'PatientProfileRecorded' as const, data: profileData() };
    const moved = profileData({ address: '3 Elm St', addressIndex: 'ad-3-elm' });
    given(referenceDecider, [before]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: moved }, recordedBy: 'stew-1', recorder: memberData({ actorId: 'stew-1', familyNameIndex: 'fn-doe' }) }).thenFails('separation-of-duties');
    given(referenceDecider, [before]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profileData({ vip: false }) }, recordedBy: 'stew-2', recorder: memberData({ actorId: 'stew-2' }) }).then((e) => expect(e).toHaveLength(1));
  });

  it('given a steward without a workforce record, when they set the flags, then it is recorded (nothing ties them to the patient)', () => {
    given(referenceDecider, []).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profileData() }, recordedBy: 'stew-9', recorder: null }).then((e) => expect(e).toHaveLength(1));
  });

  it('given a VIP patient sharing the steward\'s family name, when the steward renames them away (VIP kept), drops the flag, then renames them back, then the first step is refused already', () => {
    const steward = memberData({ actorId: 'steward-r', familyName: 'Moreau', familyNameIndex: 'fn-moreau' });
    const vip = { type: 'PatientProfileRecorded' as const, data: profileData({ patientId: 'pat-moreau', familyName: 'Moreau', familyNameIndex: 'fn-moreau', vip: true }) };
    const renamed = profileData({ patientId: 'pat-moreau', familyName: 'Morel', familyNameIndex: 'fn-morel', vip: true });
    given(referenceDecider, [vip]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: renamed }, recordedBy: 'steward-r', recorder: steward }).thenFails('separation-of-duties');
    // Had another steward renamed the patient, they would no longer share the name (the flag theirs to change), but restoring the name is not theirs.
    const stored = { type: 'PatientProfileRecorded' as const, data: renamed };
    given(referenceDecider, [vip, stored]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: { ...renamed, vip: false } }, recordedBy: 'steward-r', recorder: steward }).then((e) => expect(e).toHaveLength(1));
    given(referenceDecider, [vip, stored]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: { ...renamed, familyName: 'Moreau', familyNameIndex: 'fn-moreau' } }, recordedBy: 'steward-r', recorder: steward }).thenFails('separation-of-duties');
    // A profile they are related to as it stands, the same record again included.
    given(referenceDecider, [vip]).when({ type: 'Record', event: vip, recordedBy: 'steward-r', recorder: steward }).thenFails('separation-of-duties');
  });
});
