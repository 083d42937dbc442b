import { given } from '@custos/testing';
import { dataProtectionDecider } from './data-protection.decide.js';

describe('data protection (legal hold, erasure)', () => {
  it('given no hold, when erasure is asked, then the patient is erased with the keys named', () => {
    given(dataProtectionDecider, [])
      .when({ type: 'ErasePatientData', patientId: 'p1', reference: 'req-1', keys: ['dk-1'] })
      .then([{ type: 'PatientDataErased', data: { patientId: 'p1', reference: 'req-1', keysDestroyed: ['dk-1'] } }]);
  });

  it('given a legal hold, when erasure is asked, then it is refused (409 legal-hold)', () => {
    given(dataProtectionDecider, [{ type: 'LegalHoldChanged', data: { patientId: 'p1', active: true, reference: 'case-9' } }])
      .when({ type: 'ErasePatientData', patientId: 'p1', reference: 'req-1', keys: [] })
      .thenFails('legal-hold');
  });

  it('given a hold lifted, when erasure is asked, then it goes through', () => {
    given(dataProtectionDecider, [
      { type: 'LegalHoldChanged', data: { patientId: 'p1', active: true, reference: 'case-9' } },
      { type: 'LegalHoldChanged', data: { patientId: 'p1', active: false, reference: 'case-9' } },
    ])
      .when({ type: 'ErasePatientData', patientId: 'p1', reference: 'req-2', keys: [] })
      .then([{ type: 'PatientDataErased', data: { patientId: 'p1', reference: 'req-2', keysDestroyed: [] } }]);
  });

  it('given the same hold, when it is set again, then nothing is recorded', () => {
    given(dataProtectionDecider, [{ type: 'LegalHoldChanged', data: { patientId: 'p1', active: true, reference: 'case-9' } }])
      .when({ type: 'SetLegalHold', patientId: 'p1', active: true, reference: 'case-9' })
      .then([]);
  });
});
