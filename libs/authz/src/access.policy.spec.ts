import fc from 'fast-check';
import { DATA_ACTIONS, decideDataAccess, defineAbilityFor, Principal, PURPOSES, RESOURCE_TYPES, subjectOf } from './access.policy.js';

const who = (roles: string[], extra: Partial<Principal> = {}): Principal => ({ sub: 'u1', roles, credentials: [], ...extra });
const req = (over: Partial<{ resourceType: 'image' | 'annotation' | 'patient-record'; patientId: string; purpose: (typeof PURPOSES)[number]; consentGranted: boolean }> = {}) => ({
  resourceType: 'image' as const,
  patientId: 'p1',
  purpose: 'TREATMENT' as const,
  consentGranted: false,
  ...over,
});
const LONG_REASON = 'patient unconscious in the ER, prior scans needed';

describe('decideDataAccess', () => {
  it.each<[string, Principal, 'view' | 'download' | 'export', ReturnType<typeof req>, string | undefined, string, string]>([
    ['clinician views for treatment', who(['clinician']), 'view', req(), undefined, 'PERMIT', 'clinician-treatment'],
    ['clinician downloads for treatment', who(['clinician']), 'download', req(), undefined, 'PERMIT', 'clinician-treatment'],
    ['clinician exports', who(['clinician']), 'export', req(), undefined, 'DENY', 'no-matching-rule'],
    ['clinician for research', who(['clinician']), 'view', req({ purpose: 'RESEARCH' }), undefined, 'DENY', 'no-matching-rule'],
    ['researcher without consent', who(['researcher']), 'view', req({ purpose: 'RESEARCH' }), undefined, 'DENY', 'consent-not-granted'],
    ['researcher with consent', who(['researcher']), 'download', req({ purpose: 'AI_TRAINING', consentGranted: true }), undefined, 'PERMIT', 'researcher-with-consent'],
    ['researcher for treatment', who(['researcher']), 'view', req(), undefined, 'DENY', 'no-matching-rule'],
    ['steward for operations', who(['data-steward']), 'export', req({ purpose: 'OPERATIONS' }), undefined, 'PERMIT', 'steward-operations'],
    ['patient views own record', who(['patient'], { patientId: 'p1' }), 'view', req({ resourceType: 'patient-record' }), undefined, 'PERMIT', 'patient-own-record'],
    ['patient views another record', who(['patient'], { patientId: 'p2' }), 'view', req({ resourceType: 'patient-record' }), undefined, 'DENY', 'no-matching-rule'],
    ['patient downloads own image', who(['patient'], { patientId: 'p1' }), 'download', req(), undefined, 'DENY', 'no-matching-rule'],
    ['regulator', who(['regulator']), 'view', req(), undefined, 'DENY', 'oversight-roles-get-no-data'],
    ['security officer who is also a clinician', who(['clinician', 'security-officer']), 'view', req(), undefined, 'DENY', 'oversight-roles-get-no-data'],
    ['break the glass', who(['clinician']), 'view', req({ purpose: 'RESEARCH' }), LONG_REASON, 'PERMIT', 'break-the-glass'],
    ['break the glass, reason too short', who(['clinician']), 'view', req({ purpose: 'RESEARCH' }), 'urgent', 'DENY', 'no-matching-rule'],
    ['break the glass by a non-clinician', who(['researcher']), 'view', req({ purpose: 'RESEARCH' }), LONG_REASON, 'DENY', 'consent-not-granted'],
    ['break the glass by an oversight role', who(['clinician', 'regulator']), 'view', req(), LONG_REASON, 'DENY', 'oversight-roles-get-no-data'],
    ['annotator', who(['annotator']), 'view', req(), undefined, 'DENY', 'no-matching-rule'],
  ])('%s', (_name, principal, action, request, emergency, decision, rule) => {
    const d = decideDataAccess(principal, action, request, emergency);
    expect([d.decision, d.rule]).toEqual([decision, rule]);
    expect(d.emergency).toBe(rule === 'break-the-glass');
  });

  it('matches an independent statement of the policy for any principal and request (property)', () => {
    const role = fc.constantFrom('patient', 'clinician', 'annotator', 'reviewer', 'data-steward', 'researcher', 'security-officer', 'regulator', 'admin');
    fc.assert(
      fc.property(
        fc.uniqueArray(role, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('p1', 'p2'),
        fc.constantFrom(...DATA_ACTIONS),
        fc.constantFrom(...RESOURCE_TYPES),
        fc.constantFrom('p1', 'p2'),
        fc.constantFrom(...PURPOSES),
        fc.boolean(),
        fc.option(fc.string({ minLength: 0, maxLength: 40 }), { nil: undefined }),
        (roles, ownPatient, action, resourceType, patientId, purpose, consentGranted, emergency) => {
          const p = who(roles, roles.includes('patient') ? { patientId: ownPatient } : {});
          const has = (r: string) => (roles as string[]).includes(r);
          const oversight = has('security-officer') || has('regulator');
          const viewOrDownload = action === 'view' || action === 'download';
          const byPolicy =
            (has('clinician') && viewOrDownload && purpose === 'TREATMENT') ||
            (has('researcher') && viewOrDownload && (purpose === 'RESEARCH' || purpose === 'AI_TRAINING') && consentGranted) ||
            (has('data-steward') && purpose === 'OPERATIONS') ||
            (has('patient') && ownPatient === patientId && resourceType === 'patient-record' && action === 'view');
          const glass = has('clinician') && emergency !== undefined && emergency.trim().length >= 20;
          const expected = !oversight && (byPolicy || glass);
          const d = decideDataAccess(p, action, { resourceType, patientId, purpose, consentGranted }, emergency);
          expect(d.decision).toBe(expected ? 'PERMIT' : 'DENY');
          expect(d.emergency).toBe(expected && !byPolicy);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('route abilities', () => {
  it('lets a patient read only their own trail; oversight roles read any; others none', () => {
    const trail = (patientId: string) => subjectOf('AccessTrail', { patientId });
    expect(defineAbilityFor(who(['patient'], { patientId: 'p1' })).can('read', trail('p1'))).toBe(true);
    expect(defineAbilityFor(who(['patient'], { patientId: 'p1' })).can('read', trail('p2'))).toBe(false);
    expect(defineAbilityFor(who(['regulator'])).can('read', trail('p2'))).toBe(true);
    expect(defineAbilityFor(who(['security-officer'])).can('read', trail('p2'))).toBe(true);
    for (const r of ['clinician', 'researcher', 'data-steward', 'annotator', 'reviewer', 'admin']) expect(defineAbilityFor(who([r])).can('read', trail('p1'))).toBe(false);
  });
});
