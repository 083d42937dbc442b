import { given } from '@custos/testing';
import { type PatientProfileRecordedData, referenceDecider, type WorkforceMemberRecordedData } from './reference.events.js';

const member = (over: Partial<WorkforceMemberRecordedData> = {}): WorkforceMemberRecordedData => ({
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
const profile = (over: Partial<PatientProfileRecordedData> = {}): PatientProfileRecordedData => ({
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
    given(referenceDecider, [{ type: 'WorkforceMemberRecorded', data: member() }])
      .when({ type: 'Record', event: { type: 'WorkforceMemberRecorded', data: member({ patientId: null, status: 'active' }) }, recordedBy: 'adm-1' })
      .thenFails('separation-of-duties');
    given(referenceDecider, []).when({ type: 'Record', event: { type: 'WorkforceMemberRecorded', data: member({ actorId: 'ADM-1' }) }, recordedBy: 'adm-1' }).thenFails('separation-of-duties');
    given(referenceDecider, []).when({ type: 'Record', event: { type: 'WorkforceMemberRecorded', data: member() }, recordedBy: 'adm-2' }).then([{ type: 'WorkforceMemberRecorded', data: member() }]);
  });

  it("given a steward who is the patient (their own patient id), shares the patient's family name or address, when they set the VIP or employee flags, then it is refused", () => {
    const before = { type: 'PatientProfileRecorded' as const, data: profile() };
    for (const recorder of [member({ actorId: 'stew-1', patientId: 'p1' }), member({ actorId: 'stew-1', familyNameIndex: 'fn-doe' }), member({ actorId: 'stew-1', addressIndex: 'ad-1-main' })]) {
      given(referenceDecider, [before]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profile({ vip: false }) }, recordedBy: 'stew-1', recorder }).thenFails('separation-of-duties');
      given(referenceDecider, []).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profile({ vip: false }) }, recordedBy: 'stew-1', recorder }).thenFails('separation-of-duties');
    }
  });

  it('given a related steward, when they change only the address and keep the flags, then it is recorded; an unrelated steward may change the flags', () => {
    const before = { type: 'PatientProfileRecorded' as const, data: profile() };
    const moved = profile({ address: '3 Elm St', addressIndex: 'ad-3-elm' });
    given(referenceDecider, [before]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: moved }, recordedBy: 'stew-1', recorder: member({ actorId: 'stew-1', familyNameIndex: 'fn-doe' }) }).then([{ type: 'PatientProfileRecorded', data: moved }]);
    given(referenceDecider, [before]).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profile({ vip: false }) }, recordedBy: 'stew-2', recorder: member({ actorId: 'stew-2' }) }).then((e) => expect(e).toHaveLength(1));
  });

  it('given a steward without a workforce record, when they set the flags, then it is recorded (nothing ties them to the patient)', () => {
    given(referenceDecider, []).when({ type: 'Record', event: { type: 'PatientProfileRecorded', data: profile() }, recordedBy: 'stew-9', recorder: null }).then((e) => expect(e).toHaveLength(1));
  });
});
