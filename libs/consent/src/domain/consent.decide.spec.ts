import { decideDataAccess } from '@custos/authz';
import { given, principals } from '@custos/testing';
import { DATA_CATEGORIES, type DataCategory, type Purpose, PURPOSES } from '@custos/vocabulary';
import fc from 'fast-check';
import { type ChangeConsent, consentAt, consentDecider, type ConsentRules, evolveConsent, initialConsentState, STANDARD_RULES, type WithdrawConsent } from './consent.decide.js';
import type { ConsentChanged, ConsentEvent } from './consent.events.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const patient = principals.patient({ sub: 'pat-user' });
const steward = principals.steward({ sub: 'steward-1' });
const ME = { user: 'res-1' };
const change = (purpose: Purpose, over: Partial<ChangeConsent> = {}): ChangeConsent => ({ type: 'ChangeConsent', patientId: 'p1', purpose, status: 'granted', channel: 'patient-portal', recordedBy: patient, rules: STANDARD_RULES, now: NOW, ...over });
const withdraw = (purpose: Purpose, over: Partial<WithdrawConsent> = {}): WithdrawConsent => ({ type: 'WithdrawConsent', patientId: 'p1', purpose, channel: 'patient-portal', recordedBy: patient, rules: STANDARD_RULES, ...over });
const changed = (purpose: Purpose, data: Partial<ConsentChanged['data']> = {}): ConsentChanged => ({
  type: 'ConsentChanged',
  data: { patientId: 'p1', purpose, status: 'granted', categories: [...DATA_CATEGORIES], expiresAt: null, recipients: [], channel: 'patient-portal', ...data },
});
const state = (...events: ConsentEvent[]) => events.reduce(evolveConsent, initialConsentState);

describe('consent decider: given / when / then', () => {
  it('given no events, the defaults answer: TREATMENT and OPERATIONS granted, the rest denied', () => {
    for (const p of PURPOSES) expect(consentAt(initialConsentState, STANDARD_RULES, p, 'IMAGING', NOW, ME).granted).toBe(p === 'TREATMENT' || p === 'OPERATIONS');
  });

  it('given nothing, when the patient grants RESEARCH for IMAGING, then ConsentChanged limited to IMAGING', () => {
    given(consentDecider, []).when(change('RESEARCH', { categories: ['IMAGING'] })).then([changed('RESEARCH', { categories: ['IMAGING'] })]);
    const s = state(changed('RESEARCH', { categories: ['IMAGING'] }));
    expect(consentAt(s, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, ME)).toEqual({ granted: true, version: 1, source: 'explicit' });
    expect(consentAt(s, STANDARD_RULES, 'RESEARCH', 'DEMOGRAPHICS', NOW, ME).granted).toBe(false);
  });

  it('given nothing, when categories are left out, then every category; when given empty, then 400 bad-categories (empty is not left out)', () => {
    given(consentDecider, []).when(change('RESEARCH')).then([changed('RESEARCH', { categories: [...DATA_CATEGORIES] })]);
    for (const status of ['granted', 'denied'] as const) given(consentDecider, []).when(change('RESEARCH', { status, categories: [] })).thenFails('bad-categories');
  });

  it('given a grant with an expiry, then it counts as denied once expired', () => {
    const s = state(changed('AI_TRAINING', { expiresAt: '2026-07-01T00:00:00.000Z' }));
    expect(consentAt(s, STANDARD_RULES, 'AI_TRAINING', 'IMAGING', new Date('2026-06-30T23:59:59Z'), ME).granted).toBe(true);
    expect(consentAt(s, STANDARD_RULES, 'AI_TRAINING', 'IMAGING', new Date('2026-07-01T00:00:00Z'), ME)).toMatchObject({ granted: false, source: 'expired' });
  });

  it('given a grant limited to a dataset, then a user whose id equals the dataset id is not covered (recipients are typed)', () => {
    const s = state(changed('RESEARCH', { recipients: [{ type: 'dataset', id: 'ds-9' }] }));
    expect(consentAt(s, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, { user: 'res-1', dataset: 'ds-9' }).granted).toBe(true);
    expect(consentAt(s, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, { user: 'ds-9' }).granted).toBe(false);
    expect(consentAt(s, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, { user: 'ds-9', organization: 'ds-9' }).granted).toBe(false);
    const byUser = state(changed('RESEARCH', { recipients: [{ type: 'user', id: 'res-1' }] }));
    expect(consentAt(byUser, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, { user: 'res-1' }).granted).toBe(true);
    expect(consentAt(byUser, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, { user: 'res-2', dataset: 'res-1' }).granted).toBe(false);
    const byOrg = state(changed('RESEARCH', { recipients: [{ type: 'organization', id: 'uni-x' }] }));
    expect(consentAt(byOrg, STANDARD_RULES, 'RESEARCH', 'IMAGING', NOW, { user: 'res-1', organization: 'uni-x' }).granted).toBe(true);
  });

  it('given a TREATMENT opt-out, then TREATMENT is denied; withdrawing it returns to the default', () => {
    const optOut = changed('TREATMENT', { status: 'denied' });
    expect(consentAt(state(optOut), STANDARD_RULES, 'TREATMENT', 'IMAGING', NOW, ME)).toEqual({ granted: false, version: 1, source: 'explicit' });
    given(consentDecider, [optOut]).when(withdraw('TREATMENT')).then([{ type: 'ConsentWithdrawn', data: { patientId: 'p1', purpose: 'TREATMENT', channel: 'patient-portal' } }]);
    const after = state(optOut, { type: 'ConsentWithdrawn', data: { patientId: 'p1', purpose: 'TREATMENT', channel: 'patient-portal' } });
    expect(consentAt(after, STANDARD_RULES, 'TREATMENT', 'IMAGING', NOW, ME)).toEqual({ granted: true, version: 2, source: 'default' });
  });

  it('refuses: nothing to withdraw, an expiry in the past, a paper consent without evidence', () => {
    given(consentDecider, []).when(withdraw('RESEARCH')).thenFails('nothing-to-withdraw');
    given(consentDecider, []).when(change('RESEARCH', { expiresAt: new Date('2026-01-01T00:00:00Z') })).thenFails('expiry-in-the-past');
    given(consentDecider, []).when(change('RESEARCH', { channel: 'paper', recordedBy: steward })).thenFails('paper-consent-needs-evidence');
    given(consentDecider, []).when(change('RESEARCH', { channel: 'paper', recordedBy: steward, capturedBy: 'nurse-7', evidenceRef: 'form-123' })).then((events) => expect(events).toHaveLength(1));
  });

  describe('purposes a deployment does not let patients restrict', () => {
    const rules: ConsentRules = { defaultGranted: ['TREATMENT'], restrictable: ['RESEARCH', 'AI_TRAINING'] };
    it('are always granted, whatever the stream says', () => {
      expect(consentAt(state(changed('TREATMENT', { status: 'denied' })), rules, 'TREATMENT', 'IMAGING', NOW, ME)).toMatchObject({ granted: true, source: 'not-restrictable' });
    });
    it('cannot be changed or withdrawn: 422 purpose-not-restrictable, so no receipt promises it', () => {
      given(consentDecider, []).when(change('TREATMENT', { status: 'denied', rules })).thenFails('purpose-not-restrictable');
      given(consentDecider, []).when(withdraw('OPERATIONS', { rules })).thenFails('purpose-not-restrictable');
    });
  });

  describe('separation of duties on paper consents', () => {
    const paper = { channel: 'paper' as const, capturedBy: 'nurse-7', evidenceRef: 'form-1' };
    it('refuses a steward who is also a researcher recording AI_TRAINING (their own roles could use it)', () => {
      given(consentDecider, []).when(change('AI_TRAINING', { ...paper, recordedBy: principals.steward({ sub: 'x', roles: ['data-steward', 'researcher'] }) })).thenFails('separation-of-duties');
    });
    it('refuses a steward recording OPERATIONS, which stewards use', () => {
      given(consentDecider, []).when(change('OPERATIONS', { ...paper, recordedBy: steward })).thenFails('separation-of-duties');
    });
    it('refuses capturedBy equal to the caller', () => {
      given(consentDecider, []).when(change('RESEARCH', { ...paper, capturedBy: 'steward-1', recordedBy: steward })).thenFails('separation-of-duties');
    });
    it('refuses capturedBy naming the caller in another case, with spaces around, an invisible character or full-width letters', () => {
      for (const capturedBy of ['Steward-1', 'STEWARD-1', ' steward-1 ', 'steward\u200B-1', 'ｓｔｅｗａｒｄ－１']) {
        given(consentDecider, []).when(change('RESEARCH', { ...paper, capturedBy, recordedBy: steward })).thenFails('separation-of-duties');
      }
    });
    it('lets a plain steward record RESEARCH captured by someone else, and the patient their own choice', () => {
      given(consentDecider, []).when(change('RESEARCH', { ...paper, recordedBy: steward })).then((events) => expect(events).toHaveLength(1));
      given(consentDecider, []).when(change('AI_TRAINING')).then((events) => expect(events).toHaveLength(1));
    });
  });
});

/**
 * For any sequence of consent changes and access requests, each decision equals the policy
 * evaluated on the consent as it stood at that request (a reference model kept by hand).
 */
describe('consent enforcement (property)', () => {
  const researcher = principals.researcher();
  const clinician = principals.clinician();
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

  it('each decision follows the consent as it stood at that moment, for every purpose (a denial is honoured for all)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        let now = new Date('2026-01-01T00:00:00Z');
        let s = initialConsentState;
        const model = new Map<Purpose, { status: 'granted' | 'denied'; categories: DataCategory[]; expiresAt: number | null }>();
        for (const o of ops) {
          if (o.kind === 'wait') {
            now = new Date(now.getTime() + o.days * 86_400_000);
          } else if (o.kind === 'grant' || o.kind === 'deny') {
            const expiresAt = o.expiresInDays === null ? undefined : new Date(now.getTime() + o.expiresInDays * 86_400_000);
            const [e] = consentDecider.decide(change(o.purpose, { status: o.kind === 'grant' ? 'granted' : 'denied', categories: o.categories, ...(expiresAt ? { expiresAt } : {}), now }), s);
            s = evolveConsent(s, e as ConsentEvent);
            model.set(o.purpose, { status: o.kind === 'grant' ? 'granted' : 'denied', categories: o.categories, expiresAt: expiresAt ? expiresAt.getTime() : null });
          } else if (o.kind === 'withdraw') {
            let events: readonly ConsentEvent[];
            try {
              events = consentDecider.decide(withdraw(o.purpose), s);
            } catch {
              events = [];
            }
            expect(events.length === 1).toBe(model.has(o.purpose));
            if (events[0]) s = evolveConsent(s, events[0]);
            model.delete(o.purpose);
          } else if (o.kind === 'request') {
            const m = model.get(o.purpose);
            const expectedGrant = m
              ? m.status === 'granted' && (m.expiresAt === null || m.expiresAt > now.getTime()) && m.categories.includes(o.category)
              : o.purpose === 'TREATMENT' || o.purpose === 'OPERATIONS';
            const consent = consentAt(s, STANDARD_RULES, o.purpose, o.category, now, ME);
            expect(consent.granted).toBe(expectedGrant);
            expect(consent.version).toBe(s.version);
            const research = decideDataAccess(researcher, 'view', { resourceType: 'image', patientId: 'p1', purpose: o.purpose, consentGranted: consent.granted });
            expect(research.decision).toBe((o.purpose === 'RESEARCH' || o.purpose === 'AI_TRAINING') && expectedGrant ? 'PERMIT' : 'DENY');
            const treat = decideDataAccess(clinician, 'view', { resourceType: 'image', patientId: 'p1', purpose: o.purpose, consentGranted: consent.granted });
            expect(treat.decision).toBe(o.purpose === 'TREATMENT' && expectedGrant ? 'PERMIT' : 'DENY');
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
