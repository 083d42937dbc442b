import fc from 'fast-check';
import { DATA_ACTIONS, PURPOSES, RESOURCE_TYPES } from '@custos/vocabulary';
import { couldUseForPurpose, decideDataAccess, defineAbilityFor, type Principal, subjectOf, visibleLength } from './access.policy.js';

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
    ['clinician views for treatment with consent', who(['clinician']), 'view', req({ consentGranted: true }), undefined, 'PERMIT', 'clinician-treatment'],
    ['clinician views for treatment, patient opted out', who(['clinician']), 'view', req(), undefined, 'DENY', 'consent-not-granted'],
    ['clinician downloads for treatment', who(['clinician']), 'download', req({ consentGranted: true }), undefined, 'PERMIT', 'clinician-treatment'],
    ['clinician exports', who(['clinician']), 'export', req({ consentGranted: true }), undefined, 'DENY', 'no-matching-rule'],
    ['clinician for research', who(['clinician']), 'view', req({ purpose: 'RESEARCH', consentGranted: true }), undefined, 'DENY', 'no-matching-rule'],
    ['researcher without consent', who(['researcher']), 'view', req({ purpose: 'RESEARCH' }), undefined, 'DENY', 'consent-not-granted'],
    ['researcher with consent', who(['researcher']), 'download', req({ purpose: 'AI_TRAINING', consentGranted: true }), undefined, 'PERMIT', 'researcher-with-consent'],
    ['researcher for treatment', who(['researcher']), 'view', req({ consentGranted: true }), undefined, 'DENY', 'no-matching-rule'],
    ['steward for operations', who(['data-steward']), 'export', req({ purpose: 'OPERATIONS', consentGranted: true }), undefined, 'PERMIT', 'steward-operations'],
    ['steward for operations, patient opted out', who(['data-steward']), 'export', req({ purpose: 'OPERATIONS' }), undefined, 'DENY', 'consent-not-granted'],
    ['patient views own record', who(['patient'], { patientId: 'p1' }), 'view', req({ resourceType: 'patient-record' }), undefined, 'PERMIT', 'patient-own-data'],
    ['patient views another record', who(['patient'], { patientId: 'p2' }), 'view', req({ resourceType: 'patient-record' }), undefined, 'DENY', 'no-matching-rule'],
    ['patient downloads own image', who(['patient'], { patientId: 'p1' }), 'download', req(), undefined, 'PERMIT', 'patient-own-data'],
    ['patient exports own image', who(['patient'], { patientId: 'p1' }), 'export', req(), undefined, 'DENY', 'no-matching-rule'],
    ['regulator', who(['regulator']), 'view', req({ consentGranted: true }), undefined, 'DENY', 'oversight-roles-get-no-data'],
    ['security officer who is also a clinician', who(['clinician', 'security-officer']), 'view', req({ consentGranted: true }), undefined, 'DENY', 'oversight-roles-get-no-data'],
    ['break the glass', who(['clinician']), 'view', req({ purpose: 'RESEARCH' }), LONG_REASON, 'PERMIT', 'break-the-glass'],
    ['break the glass, reason too short', who(['clinician']), 'view', req({ purpose: 'RESEARCH' }), 'urgent', 'DENY', 'no-matching-rule'],
    ['break the glass, 21 zero-width spaces', who(['clinician']), 'view', req(), '\u200b'.repeat(21), 'DENY', 'consent-not-granted'],
    ['break the glass by a non-clinician', who(['researcher']), 'view', req({ purpose: 'RESEARCH' }), LONG_REASON, 'DENY', 'consent-not-granted'],
    ['break the glass by an oversight role', who(['clinician', 'regulator']), 'view', req(), LONG_REASON, 'DENY', 'oversight-roles-get-no-data'],
    ['annotator for treatment', who(['annotator']), 'view', req({ consentGranted: true }), undefined, 'DENY', 'no-matching-rule'],
    ['annotator views an image for AI training with consent', who(['annotator']), 'view', req({ purpose: 'AI_TRAINING', consentGranted: true }), undefined, 'PERMIT', 'annotation-with-consent'],
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
            (has('clinician') && viewOrDownload && purpose === 'TREATMENT' && consentGranted) ||
            (has('researcher') && viewOrDownload && (purpose === 'RESEARCH' || purpose === 'AI_TRAINING') && consentGranted) ||
            ((has('annotator') || has('reviewer')) && action === 'view' && (resourceType === 'image' || resourceType === 'annotation') && (purpose === 'RESEARCH' || purpose === 'AI_TRAINING') && consentGranted) ||
            (has('data-steward') && purpose === 'OPERATIONS' && consentGranted) ||
            (has('patient') && ownPatient === patientId && viewOrDownload);
          const glass = has('clinician') && emergency !== undefined && [...emergency.replace(/[\p{Cf}\s]/gu, '')].length >= 20;
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

describe('visibleLength', () => {
  it('counts what a reader sees: no format characters, no white space, one per letter or digit', () => {
    expect(visibleLength('\u200b'.repeat(21))).toBe(0);
    expect(visibleLength(' a\u200db \u2066c\n')).toBe(3);
    expect(visibleLength('stroke alert, prior MR needed now')).toBe(27);
    expect(visibleLength('脳卒中の疑い、至急MRI')).toBe(11);
    expect(visibleLength('Ärztin 2x')).toBe(8);
  });

  it('does not count fillers, blanks, marks piled on one letter, symbols or lone surrogates', () => {
    for (const blank of ['\u3164', '\u2800', '\uffa0', '\u115f', '\u1160', '\u115f\u1160', '😀', '.', '\ud800', '\udfff', '\u00ad', '\u034f']) {
      expect(visibleLength(blank.repeat(20))).toBe(0);
    }
    expect(visibleLength(`a${'\u0301'.repeat(19)}`)).toBe(1);
    expect(visibleLength(`${'e\u0301'.repeat(20)}`)).toBe(20); // twenty accented letters are twenty
    expect(visibleLength('\u1100\u1161\u11a8')).toBe(1); // one Hangul syllable from its jamo
  });
});

describe('couldUseForPurpose (separation of duties)', () => {
  it('is true for a role that could use the data for that purpose once consented, false otherwise', () => {
    expect(couldUseForPurpose(who(['data-steward', 'researcher']), 'AI_TRAINING')).toBe(true);
    expect(couldUseForPurpose(who(['data-steward']), 'OPERATIONS')).toBe(true);
    expect(couldUseForPurpose(who(['data-steward']), 'RESEARCH')).toBe(false);
    expect(couldUseForPurpose(who(['patient'], { patientId: 'p1' }), 'RESEARCH')).toBe(false);
  });
});
