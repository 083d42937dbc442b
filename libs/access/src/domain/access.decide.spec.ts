import type { Principal } from '@custos/authz';
import { given, principals } from '@custos/testing';
import { accessDecider, conceals, type DecideAccess, decideAccess, reviewDecider } from './access.decide.js';
import type { AccessDecided } from './access.events.js';

const clinician = principals.clinician({ credentials: ['certified-radiologist'] });
const researcher = principals.researcher({ sub: 'r' });
const patient = (id: string): Principal => principals.patient({ sub: `u-${id}`, patientId: id });
const granted = { granted: true, version: 3 };
const cmd = (over: Partial<DecideAccess> = {}): DecideAccess => ({
  type: 'DecideAccess',
  principal: clinician,
  resourceType: 'image',
  resourceId: 'img-1',
  action: 'view',
  purpose: 'TREATMENT',
  resource: { patientId: 'p1', datasetId: 'ds-1' },
  consent: granted,
  policyVersion: 'pv1',
  ...over,
});

describe('access decider: given / when / then', () => {
  it('given a known image and consent, when a clinician views it for treatment, then PERMIT by clinician-treatment, recording consent and policy versions', () => {
    given(accessDecider, [])
      .when(cmd())
      .then([
        {
          type: 'AccessDecided',
          data: { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', patientId: 'p1', datasetId: 'ds-1', decision: 'PERMIT', rule: 'clinician-treatment', reason: 'permitted by clinician-treatment', emergency: false, consentVersion: 3, policyVersion: 'pv1' },
        },
      ]);
  });

  it('given the patient denied TREATMENT, when a clinician asks, then DENY consent-not-granted', () => {
    expect(decideAccess(cmd({ consent: { granted: false, version: 1 } })).data).toMatchObject({ decision: 'DENY', rule: 'consent-not-granted', consentVersion: 1 });
  });

  it('given the patient denied TREATMENT, a clinician can still break the glass (emergency, queued for review)', () => {
    const reason = '  patient unconscious, need prior CT now ';
    expect(decideAccess(cmd({ consent: { granted: false, version: 1 }, emergencyReason: reason })).data).toMatchObject({ decision: 'PERMIT', rule: 'break-the-glass', emergency: true, emergencyReason: reason.trim() });
  });

  it('a reason of zero-width spaces is no reason', () => {
    expect(decideAccess(cmd({ consent: { granted: false, version: 1 }, emergencyReason: '\u200b'.repeat(25) })).data).toMatchObject({ decision: 'DENY', emergency: false });
  });

  it('a reason that shows nothing (Hangul fillers, braille blanks, marks piled on one letter) breaks no glass', () => {
    for (const reason of ['\u3164'.repeat(20), '\u2800'.repeat(20), '\uffa0'.repeat(20), '\u115f\u1160'.repeat(10), `a${'\u0301'.repeat(19)}`]) {
      expect(decideAccess(cmd({ consent: { granted: false, version: 1 }, emergencyReason: reason })).data).toMatchObject({ decision: 'DENY', emergency: false });
    }
  });

  it('refuses a request its readers could not take, whatever transport sent it (no event)', () => {
    const broken: Array<Partial<Record<keyof DecideAccess, unknown>>> = [
      { resourceType: undefined },
      { resourceType: 'spaceship' },
      { action: 'delete' },
      { purpose: null },
      { resourceId: '' },
      { resourceId: [] },
      { emergencyReason: ['now'] },
      { principal: { roles: ['clinician'], credentials: [] } },
      { resource: { datasetId: 'ds-1' } },
    ];
    for (const over of broken) given(accessDecider, []).when(cmd(over as Partial<DecideAccess>)).thenFails('bad-access-request');
  });

  it('given an unknown resource, then DENY unknown-resource, patient unknown', () => {
    expect(decideAccess(cmd({ resource: null })).data).toMatchObject({ decision: 'DENY', rule: 'unknown-resource', patientId: null });
  });

  describe('demographics on an image read', () => {
    it('go out to a clinician when the DEMOGRAPHICS consent holds', () => {
      expect(decideAccess(cmd({ demographics: { consentGranted: true } })).data.demographics).toBe('included');
    });
    it('are withheld when only IMAGING is consented', () => {
      expect(decideAccess(cmd({ demographics: { consentGranted: false } })).data).toMatchObject({ decision: 'PERMIT', demographics: 'withheld' });
    });
    it('are withheld from a researcher, who is not entitled to them', () => {
      expect(decideAccess(cmd({ principal: researcher, purpose: 'AI_TRAINING', demographics: { consentGranted: true } })).data).toMatchObject({ decision: 'PERMIT', demographics: 'withheld' });
    });
    it('go to the patient themselves whatever the consent', () => {
      expect(decideAccess(cmd({ principal: patient('p1'), consent: { granted: false, version: 2 }, demographics: { consentGranted: false } })).data).toMatchObject({ decision: 'PERMIT', rule: 'patient-own-data', demographics: 'included' });
    });
  });

  it('conceals from a patient whether another patient’s image exists', () => {
    const other = decideAccess(cmd({ principal: patient('p2') })).data;
    const missing = decideAccess(cmd({ principal: patient('p2'), resource: null })).data;
    expect(other.decision).toBe('DENY');
    expect(conceals(patient('p2'), other)).toBe(true);
    expect(conceals(patient('p2'), missing)).toBe(true);
    expect(conceals(clinician, decideAccess(cmd({ consent: { granted: false, version: 1 } })).data)).toBe(false);
  });

  it('records refusals and audit reads as given', () => {
    const data = { method: 'GET', route: '/v1/x', action: 'read', subject: 'AccessTrail', patientId: 'p1', rule: 'not-entitled' };
    given(accessDecider, []).when({ type: 'RecordRouteDenied', data }).then([{ type: 'RouteAccessDenied', data }]);
    const read = { route: '/v1/audit/events', resourceType: 'audit-log' as const, patientId: null, filters: { actorId: 'dr-1' }, itemsReturned: 3, rule: 'security-oversight' };
    given(accessDecider, []).when({ type: 'RecordAuditRead', data: read }).then([{ type: 'AuditDataRead', data: read }]);
  });
});

describe('review decider', () => {
  const emergency: AccessDecided = decideAccess(cmd({ consent: { granted: false, version: 0 }, emergencyReason: 'patient unconscious, need prior CT now' }));
  const ordinary: AccessDecided = decideAccess(cmd());
  const review = (access: AccessDecided | undefined) => ({ type: 'ReviewEmergencyAccess' as const, accessEventId: 'e1', verdict: 'unjustified' as const, note: 'no emergency on record', access });

  it('given an emergency access, when reviewed, then EmergencyAccessReviewed for its patient', () => {
    given(reviewDecider, []).when(review(emergency)).then([{ type: 'EmergencyAccessReviewed', data: { accessEventId: 'e1', patientId: 'p1', verdict: 'unjustified', note: 'no emergency on record' } }]);
  });
  it('refuses an unknown access, an ordinary one, and a second review', () => {
    given(reviewDecider, []).when(review(undefined)).thenFails('not-found');
    given(reviewDecider, []).when(review(ordinary)).thenFails('not-emergency-access');
    given(reviewDecider, [{ type: 'EmergencyAccessReviewed', data: { accessEventId: 'e1', patientId: 'p1', verdict: 'justified', note: '' } }]).when(review(emergency)).thenFails('already-reviewed');
  });
});
