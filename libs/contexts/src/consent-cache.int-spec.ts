import { AccessDecisions, AccessDeniedError, PolicyActivation } from '@custos/access';
import { ConsentReader, consentShell, consentStreamId, STANDARD_RULES } from '@custos/consent';
import { imageShell, imageStreamId, StoreImageDirectory } from '@custos/imaging';
import { SystemClock } from '@custos/platform';
import { commandContextOf, openTestStore, principals, type StoreKind, type TestStore } from '@custos/testing';
import { consentPortFrom, policyInForce } from './wiring.js';
import { ALL_MIGRATIONS } from './index.js';

/**
 * Decisions read consent from a per-patient cache that the append's condition validates: a
 * consent changed elsewhere (another gateway, or a write that bypassed this reader) is never
 * missed, it only costs the decision one more attempt on a fresh read.
 */
describe.each<StoreKind>(['pglite', 'postgres'])('consent cache, validated by the append condition (%s)', (kind) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  it('a denial written behind the cache is honoured by the next decision, which cites its version', async () => {
    const clock = new SystemClock();
    const policy = policyInForce(STANDARD_RULES);
    await new PolicyActivation(t.store, clock, policy).onApplicationBootstrap();
    const steward = { actor: { id: 'stew', roles: ['data-steward'] }, correlationId: 'c' };
    const image = { imageId: 'img-1', patientId: 'p1', datasetId: 'ds', modality: 'CT', bodySite: 'CHEST', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'x' } };
    await imageShell(t.store, clock).handle(imageStreamId('img-1'), { type: 'RegisterImage', image }, steward, { patientId: 'p1' });
    const reader = new ConsentReader(t.store, STANDARD_RULES);
    const reads: string[] = [];
    const counting = new Proxy(t.store, { get: (target, prop, receiver) => (prop === 'readStream' ? (id: string) => (reads.push(id), target.readStream(id)) : Reflect.get(target, prop, receiver)) });
    const decisions = new AccessDecisions(t.store, new StoreImageDirectory(counting), consentPortFrom(new ConsentReader(counting, STANDARD_RULES)), clock, policy);
    const dr = principals.clinician();
    const ctx = commandContextOf(dr, 'c');
    const ask = () => decisions.decide({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }, dr, ctx);

    expect((await ask()).data).toMatchObject({ decision: 'PERMIT', consentVersion: 0 });
    reads.length = 0;
    expect((await ask()).data).toMatchObject({ decision: 'PERMIT', consentVersion: 0 });
    expect(reads.filter((r) => r === consentStreamId('p1'))).toHaveLength(0); // answered from the cache

    // another process denies TREATMENT: this reader's cache knows nothing of it
    const patient = principals.patient();
    await consentShell(t.store, clock).handle(consentStreamId('p1'), { type: 'ChangeConsent', patientId: 'p1', purpose: 'TREATMENT', status: 'denied', channel: 'patient-portal', recordedBy: patient, rules: STANDARD_RULES, now: clock.now() }, { actor: { id: 'pat-1', roles: ['patient'] }, correlationId: 'c' }, { patientId: 'p1' });
    await expect(ask()).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(ask()).rejects.toMatchObject({ decision: { decision: 'DENY', rule: 'consent-not-granted', consentVersion: 1 } });
    expect(await reader.state('p1')).toMatchObject({ version: 1 });
  });
});
