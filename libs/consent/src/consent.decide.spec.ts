import { decideDataAccess, Principal, Purpose, PURPOSES } from '@custos/authz';
import fc from 'fast-check';
import { consentAt, decideChangeConsent, decideWithdrawConsent, evolveConsent, foldConsent, initialConsentState, STANDARD_DEFAULTS } from './consent.decide.js';
import type { ConsentEvent, DataCategory } from './consent.events.js';
import { DATA_CATEGORIES } from './consent.events.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const grant = (purpose: Purpose, over: Partial<Parameters<typeof decideChangeConsent>[0]> = {}) =>
  decideChangeConsent({ patientId: 'p1', purpose, status: 'granted', channel: 'patient-portal', now: NOW, ...over }, initialConsentState);

describe('consent decider: given / when / then', () => {
  it('given no events, when asked, then the defaults answer: TREATMENT and OPERATIONS granted, the rest denied', () => {
    for (const p of PURPOSES) expect(consentAt(initialConsentState, STANDARD_DEFAULTS, p, 'IMAGING', NOW).granted).toBe(p === 'TREATMENT' || p === 'OPERATIONS');
  });

  it('given nothing, when the patient grants RESEARCH for IMAGING, then ConsentChanged limited to IMAGING', () => {
    const outcome = grant('RESEARCH', { categories: ['IMAGING'] });
    expect(outcome).toEqual({
      ok: true,
      event: { type: 'ConsentChanged', data: { patientId: 'p1', purpose: 'RESEARCH', status: 'granted', categories: ['IMAGING'], expiresAt: null, recipients: [], channel: 'patient-portal' } },
    });
    const state = foldConsent([(outcome as { event: ConsentEvent }).event]);
    expect(consentAt(state, STANDARD_DEFAULTS, 'RESEARCH', 'IMAGING', NOW)).toEqual({ granted: true, version: 1, source: 'explicit' });
    expect(consentAt(state, STANDARD_DEFAULTS, 'RESEARCH', 'DEMOGRAPHICS', NOW).granted).toBe(false);
  });

  it('given a grant with an expiry, then it counts as denied once expired', () => {
    const e = (grant('AI_TRAINING', { expiresAt: '2026-07-01T00:00:00Z' }) as { event: ConsentEvent }).event;
    const state = foldConsent([e]);
    expect(consentAt(state, STANDARD_DEFAULTS, 'AI_TRAINING', 'IMAGING', new Date('2026-06-30T23:59:59Z')).granted).toBe(true);
    expect(consentAt(state, STANDARD_DEFAULTS, 'AI_TRAINING', 'IMAGING', new Date('2026-07-01T00:00:00Z'))).toMatchObject({ granted: false, source: 'expired' });
  });

  it('given a grant limited to recipients, then only those are covered', () => {
    const state = foldConsent([(grant('RESEARCH', { recipients: ['ds-lung'] }) as { event: ConsentEvent }).event]);
    expect(consentAt(state, STANDARD_DEFAULTS, 'RESEARCH', 'IMAGING', NOW, ['res-1', 'ds-lung']).granted).toBe(true);
    expect(consentAt(state, STANDARD_DEFAULTS, 'RESEARCH', 'IMAGING', NOW, ['res-1', 'ds-other']).granted).toBe(false);
  });

  it('given a TREATMENT opt-out, then TREATMENT is denied; withdrawing it returns to the default', () => {
    const optOut = (decideChangeConsent({ patientId: 'p1', purpose: 'TREATMENT', status: 'denied', channel: 'patient-portal', now: NOW }, initialConsentState) as { event: ConsentEvent }).event;
    const state = evolveConsent(initialConsentState, optOut);
    expect(consentAt(state, STANDARD_DEFAULTS, 'TREATMENT', 'IMAGING', NOW).granted).toBe(false);
    const withdrawn = decideWithdrawConsent({ patientId: 'p1', purpose: 'TREATMENT', channel: 'patient-portal' }, state);
    expect(withdrawn.ok).toBe(true);
    const after = evolveConsent(state, (withdrawn as { event: ConsentEvent }).event);
    expect(consentAt(after, STANDARD_DEFAULTS, 'TREATMENT', 'IMAGING', NOW)).toEqual({ granted: true, version: 2, source: 'default' });
  });

  it('refuses: nothing to withdraw, an expiry in the past, a paper consent without evidence', () => {
    expect(decideWithdrawConsent({ patientId: 'p1', purpose: 'RESEARCH', channel: 'patient-portal' }, initialConsentState)).toMatchObject({ ok: false, code: 'nothing-to-withdraw' });
    expect(grant('RESEARCH', { expiresAt: '2026-01-01T00:00:00Z' })).toMatchObject({ ok: false, code: 'expiry-in-the-past' });
    expect(grant('RESEARCH', { channel: 'paper' })).toMatchObject({ ok: false, code: 'paper-consent-needs-evidence' });
    expect(grant('RESEARCH', { channel: 'paper', capturedBy: 'nurse-7', evidenceRef: 'form-123' }).ok).toBe(true);
  });
});

/**
 * For any sequence of consent changes and access requests, each decision equals the policy
 * evaluated on the consent as it stood at that request (a reference model kept by hand).
 */
describe('consent enforcement (property)', () => {
  const researcher: Principal = { sub: 'res-1', roles: ['researcher'], credentials: [] };
  type Op =
    | { kind: 'grant' | 'deny'; purpose: Purpose; categories: DataCategory[]; expiresInDays: number | null }
    | { kind: 'withdraw'; purpose: Purpose }
    | { kind: 'request'; purpose: Purpose; category: DataCategory }
    | { kind: 'wait'; days: number };
  const purpose = fc.constantFrom(...PURPOSES);
  const category = fc.constantFrom(...DATA_CATEGORIES);
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constantFrom('grant' as const, 'deny' as const), purpose, categories: fc.uniqueArray(category, { minLength: 1, maxLength: 4 }), expiresInDays: fc.option(fc.integer({ min: 1, max: 30 }), { nil: null }) }),
    fc.record({ kind: fc.constant('withdraw' as const), purpose }),
    fc.record({ kind: fc.constant('request' as const), purpose, category }),
    fc.record({ kind: fc.constant('wait' as const), days: fc.integer({ min: 1, max: 20 }) }),
  );

  it('each decision follows the consent as it stood at that moment', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        let now = new Date('2026-01-01T00:00:00Z');
        let state = initialConsentState;
        const model = new Map<Purpose, { status: 'granted' | 'denied'; categories: DataCategory[]; expiresAt: number | null }>();
        for (const o of ops) {
          if (o.kind === 'wait') {
            now = new Date(now.getTime() + o.days * 86_400_000);
          } else if (o.kind === 'grant' || o.kind === 'deny') {
            const expiresAt = o.expiresInDays === null ? undefined : new Date(now.getTime() + o.expiresInDays * 86_400_000).toISOString();
            const out = decideChangeConsent({ patientId: 'p1', purpose: o.purpose, status: o.kind === 'grant' ? 'granted' : 'denied', categories: o.categories, ...(expiresAt ? { expiresAt } : {}), channel: 'patient-portal', now }, state);
            expect(out.ok).toBe(true);
            if (out.ok) state = evolveConsent(state, out.event);
            model.set(o.purpose, { status: o.kind === 'grant' ? 'granted' : 'denied', categories: o.categories, expiresAt: expiresAt ? Date.parse(expiresAt) : null });
          } else if (o.kind === 'withdraw') {
            const out = decideWithdrawConsent({ patientId: 'p1', purpose: o.purpose, channel: 'patient-portal' }, state);
            expect(out.ok).toBe(model.has(o.purpose));
            if (out.ok) state = evolveConsent(state, out.event);
            model.delete(o.purpose);
          } else if (o.kind === 'request') {
            const m = model.get(o.purpose);
            const expectedGrant = m
              ? m.status === 'granted' && (m.expiresAt === null || m.expiresAt > now.getTime()) && m.categories.includes(o.category)
              : o.purpose === 'TREATMENT' || o.purpose === 'OPERATIONS';
            const consent = consentAt(state, STANDARD_DEFAULTS, o.purpose, o.category, now);
            expect(consent.granted).toBe(expectedGrant);
            expect(consent.version).toBe(state.version);
            const decision = decideDataAccess(researcher, 'view', { resourceType: 'image', patientId: 'p1', purpose: o.purpose, consentGranted: consent.granted });
            const researchPurpose = o.purpose === 'RESEARCH' || o.purpose === 'AI_TRAINING';
            expect(decision.decision).toBe(researchPurpose && expectedGrant ? 'PERMIT' : 'DENY');
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
