import type { Principal } from '@custos/authz';
import { decideAccessRequest, decideRegisterImage, decideReview, RequestAccess } from './access.decide.js';
import type { AccessDecided } from './access.events.js';

const clinician: Principal = { sub: 'dr-1', roles: ['clinician'], credentials: ['certified-radiologist'] };
const given = (over: Partial<RequestAccess> = {}): RequestAccess => ({ principal: clinician, resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', ...over });
const noConsent = { granted: false, version: 0 };

describe('decideAccessRequest', () => {
  it('given a known image, when a clinician views it for treatment, then AccessDecided PERMIT by clinician-treatment', () => {
    expect(decideAccessRequest(given(), { patientId: 'p1', consent: noConsent })).toEqual({
      type: 'AccessDecided',
      data: { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', patientId: 'p1', decision: 'PERMIT', rule: 'clinician-treatment', reason: 'permitted by clinician-treatment', emergency: false, consentVersion: 0 },
    });
  });

  it('given an unknown resource, then AccessDecided DENY by unknown-resource, patient unknown', () => {
    expect(decideAccessRequest(given(), { patientId: null, consent: noConsent }).data).toMatchObject({ decision: 'DENY', rule: 'unknown-resource', patientId: null });
  });

  it('given break-the-glass, then PERMIT flagged emergency with the stated reason kept for review', () => {
    const reason = '  patient unconscious, need prior CT now ';
    const e = decideAccessRequest(given({ purpose: 'RESEARCH', emergencyReason: reason }), { patientId: 'p1', consent: noConsent });
    expect(e.data).toMatchObject({ decision: 'PERMIT', rule: 'break-the-glass', emergency: true, emergencyReason: reason.trim() });
  });

  it('records the consent version it relied on', () => {
    const e = decideAccessRequest(given({ principal: { sub: 'r', roles: ['researcher'], credentials: [] }, purpose: 'AI_TRAINING' }), { patientId: 'p1', consent: { granted: true, version: 4 } });
    expect(e.data).toMatchObject({ decision: 'PERMIT', consentVersion: 4 });
  });
});

describe('decideReview', () => {
  const emergency: AccessDecided = decideAccessRequest(given({ purpose: 'RESEARCH', emergencyReason: 'patient unconscious, need prior CT now' }), { patientId: 'p1', consent: noConsent });
  const ordinary: AccessDecided = decideAccessRequest(given(), { patientId: 'p1', consent: noConsent });

  it('given an emergency access, when reviewed, then EmergencyAccessReviewed for its patient', () => {
    expect(decideReview({ accessEventId: 'e1', verdict: 'unjustified', note: 'no emergency on record' }, emergency)).toEqual({
      ok: true,
      event: { type: 'EmergencyAccessReviewed', data: { accessEventId: 'e1', patientId: 'p1', verdict: 'unjustified', note: 'no emergency on record' } },
    });
  });
  it('refuses an unknown access and an ordinary one', () => {
    expect(decideReview({ accessEventId: 'x', verdict: 'justified', note: '' }, undefined)).toEqual({ ok: false, error: 'not-found' });
    expect(decideReview({ accessEventId: 'x', verdict: 'justified', note: '' }, ordinary)).toEqual({ ok: false, error: 'not-emergency' });
  });
});

describe('decideRegisterImage', () => {
  const image = { imageId: 'img-1', patientId: 'p1', modality: 'CT', bodySite: 'chest', datasetId: 'ds-1', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'unknown' } };
  it('registers a new image once', () => {
    expect(decideRegisterImage(image, [])).toEqual({ ok: true, event: { type: 'ImageRegistered', data: image } });
    expect(decideRegisterImage(image, [{ type: 'ImageRegistered', data: image }])).toEqual({ ok: false, error: 'already-exists' });
  });
});
