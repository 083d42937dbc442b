import fc from 'fast-check';
import { AccessDecisions, AccessDeniedError, accessStreamId, IngestAuditEventsCommand, IngestAuditEventsHandler, PolicyActivation, policyStreamId, UnknownResourceError } from '@custos/access';
import { CustosError } from '@custos/errors';
import { policyVersionOf, type Principal } from '@custos/authz';
import { ConsentReader, consentShell, consentStreamId, STANDARD_RULES, type Recipient } from '@custos/consent';
import { type CommandContext, type EventStore, readLog, verifyChain } from '@custos/event-store';
import { imageShell, imageStreamId, StoreImageDirectory } from '@custos/imaging';
import { Clock } from '@custos/platform';
import { commandContextOf, openTestStore, principals, rewriteAndRehash, type StoreKind, type TestStore } from '@custos/testing';
import { DATA_CATEGORIES, type DataAction, type DataCategory, PURPOSES, type Purpose } from '@custos/vocabulary';
import { consentPortFrom, policyInForce } from './wiring.js';
import { verifyDecisions } from './verify-decisions.js';
import { ALL_MIGRATIONS } from './index.js';

class ManualClock extends Clock {
  private t = Date.parse('2026-06-01T08:00:00.000Z');
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const POLICY = policyInForce(STANDARD_RULES);

const contextOf = (p: Principal): CommandContext => commandContextOf(p, 'corr');

/** The decision path the gateway runs (same classes, same wiring), without HTTP. */
async function world(t: TestStore) {
  const clock = new ManualClock();
  const reader = new ConsentReader(t.store, STANDARD_RULES);
  const decisions = new AccessDecisions(t.store, new StoreImageDirectory(t.store), consentPortFrom(reader), clock, POLICY);
  await new PolicyActivation(t.store, clock, POLICY).onApplicationBootstrap();
  const steward: CommandContext = { actor: { id: 'stew', roles: ['data-steward'] }, correlationId: 'reg' };
  return {
    clock,
    decisions,
    async register(imageId: string, patientId: string, datasetId: string) {
      const image = { imageId, patientId, datasetId, modality: 'CT', bodySite: 'CHEST', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'unknown' } };
      await imageShell(t.store, clock).handle(imageStreamId(imageId), { type: 'RegisterImage', image }, steward, { patientId });
    },
    async consent(patientId: string, by: Principal, change: { purpose: Purpose; status: 'granted' | 'denied' | 'withdrawn'; categories?: DataCategory[]; recipients?: Recipient[]; expiresInMinutes?: number }) {
      const now = clock.now();
      const command =
        change.status === 'withdrawn'
          ? ({ type: 'WithdrawConsent', patientId, purpose: change.purpose, channel: 'patient-portal', recordedBy: by, rules: STANDARD_RULES } as const)
          : ({
              type: 'ChangeConsent',
              patientId,
              purpose: change.purpose,
              status: change.status,
              channel: 'patient-portal',
              recordedBy: by,
              rules: STANDARD_RULES,
              now,
              ...(change.categories ? { categories: change.categories } : {}),
              ...(change.recipients ? { recipients: change.recipients } : {}),
              ...(change.expiresInMinutes !== undefined ? { expiresAt: new Date(now.getTime() + change.expiresInMinutes * 60_000) } : {}),
            } as const);
      try {
        await consentShell(t.store, clock).handle(consentStreamId(patientId), command, contextOf(by), { now, patientId });
      } catch (e) {
        if (!(e instanceof CustosError)) throw e; // a refusal (nothing to withdraw) or a lost race: nothing appended
      }
    },
    async ask(p: Principal, request: { resourceType: 'image' | 'patient-record'; resourceId: string; action: DataAction; purpose: Purpose; emergencyReason?: string }, demographics: boolean) {
      try {
        await decisions.decide(request, p, contextOf(p), demographics ? { demographics: true } : {});
      } catch (e) {
        if (!(e instanceof AccessDeniedError) && !(e instanceof UnknownResourceError)) throw e;
      }
    },
  };
}

/** Who asks for what, mostly as their roles would (index into `principals`, and a purpose). */
const SENSIBLE: ReadonlyArray<{ who: number; purpose: Purpose }> = [
  { who: 0, purpose: 'TREATMENT' },
  { who: 1, purpose: 'TREATMENT' },
  { who: 2, purpose: 'RESEARCH' },
  { who: 2, purpose: 'AI_TRAINING' },
  { who: 3, purpose: 'AI_TRAINING' },
  { who: 4, purpose: 'AI_TRAINING' },
  { who: 5, purpose: 'OPERATIONS' },
  { who: 7, purpose: 'RESEARCH' },
];

const everyone = (patient: string): Principal[] => [
  principals.clinician(),
  principals.clinician({ sub: 'dr-2', org: 'org-a' }),
  principals.researcher({ org: 'org-a' }),
  principals.researcher({ sub: 'ds-a' }),
  principals.annotator({ credentials: [] }),
  principals.steward(),
  principals.securityOfficer({ sub: 'sec-1' }),
  principals.patient({ sub: 'pat', patientId: patient }),
];

describe('custos verify --decisions: every decision re-derived from the log', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
  });
  afterAll(async () => {
    await t.close();
  });

  it('finds every decision made by the real decision path to follow, whatever the consents, principals, clock and races (property)', async () => {
    const w = await world(t);
    let run = 0;
    const purpose = fc.constantFrom(...PURPOSES);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('consent' as const), patient: fc.nat(2), purpose: fc.oneof({ weight: 3, arbitrary: fc.constantFrom<Purpose>('TREATMENT', 'AI_TRAINING', 'RESEARCH', 'OPERATIONS') }, { weight: 1, arbitrary: purpose }), status: fc.constantFrom('granted' as const, 'granted' as const, 'denied' as const, 'withdrawn' as const), categories: fc.option(fc.subarray([...DATA_CATEGORIES], { minLength: 1 }), { nil: undefined, freq: 2 }), recipients: fc.option(fc.array(fc.record({ type: fc.constantFrom('user' as const, 'dataset' as const, 'organization' as const), id: fc.constantFrom('res-1', 'ds-a', 'org-a', 'dr-2') }), { maxLength: 2 }), { nil: undefined, freq: 2 }), expiresInMinutes: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }) }),
      fc.record({ kind: fc.constant('ask' as const), asked: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SENSIBLE) }, { weight: 1, arbitrary: fc.record({ who: fc.nat(7), purpose }) }), image: fc.nat(4), record: fc.boolean(), action: fc.constantFrom<DataAction>('view', 'view', 'download', 'export'), emergency: fc.constantFrom(undefined, 'short', 'patient unconscious in ER bay 3, prior CT needed', '\u200b'.repeat(25)), demographics: fc.boolean() }),
      fc.record({ kind: fc.constant('tick' as const), minutes: fc.integer({ min: 1, max: 20 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
        run += 1;
        const patients = [0, 1, 2].map((i) => `r${run}-p${i}`);
        // img 0..3 registered (two datasets), img 4 never: an unknown resource
        for (let i = 0; i < 4; i++) await w.register(`r${run}-img${i}`, patients[i % 3]!, i % 2 ? 'ds-a' : 'ds-b');
        // ops run four at a time, so decisions race consent changes
        for (let i = 0; i < ops.length; i += 4) {
          await Promise.all(
            ops.slice(i, i + 4).map(async (o) => {
              if (o.kind === 'tick') return w.clock.advance(o.minutes * 60_000);
              if (o.kind === 'consent') {
                const patient = patients[o.patient]!;
                return w.consent(patient, { sub: `self-${patient}`, roles: ['patient'], credentials: [], patientId: patient }, { purpose: o.purpose, status: o.status, ...(o.categories ? { categories: o.categories } : {}), ...(o.recipients ? { recipients: o.recipients } : {}), ...(o.expiresInMinutes ? { expiresInMinutes: o.expiresInMinutes } : {}) });
              }
              const who = everyone(patients[o.image % 3]!)[o.asked.who]!;
              const resource = o.record ? { resourceType: 'patient-record' as const, resourceId: o.image === 4 ? `r${run}-nobody` : patients[o.image % 3]! } : { resourceType: 'image' as const, resourceId: `r${run}-img${o.image}` };
              return w.ask(who, { ...resource, action: o.action, purpose: o.asked.purpose, ...(o.emergency ? { emergencyReason: o.emergency } : {}) }, o.demographics && !o.record);
            }),
          );
        }
        const report = await verifyDecisions(t.db, { pageSize: 97 });
        expect(report).toMatchObject({ ok: true, unknownPolicies: {} });
        expect(report.rederived).toBe(report.decisions);
      }),
      { numRuns: 40, seed: 7 },
    );
    const report = await verifyDecisions(t.db);
    expect(report.decisions).toBeGreaterThan(100);
    // the runs reach the rules that depend on consent, not only the easy refusals
    const rules = new Set((await t.db.query<{ rule: string }>(`SELECT DISTINCT data->>'rule' AS rule FROM custos_events WHERE type = 'AccessDecided'`)).map((r) => r.rule));
    expect([...rules].sort()).toEqual(expect.arrayContaining(['break-the-glass', 'clinician-treatment', 'consent-not-granted', 'patient-own-data', 'researcher-with-consent', 'steward-operations', 'unknown-resource']));
  });
});

describe.each<StoreKind>(['pglite', 'postgres'])('custos verify --decisions against a careful attacker (%s)', (kind) => {
  let t: TestStore;
  let w: Awaited<ReturnType<typeof world>>;
  const clinician = principals.clinician();
  const patient = principals.patient();
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
    w = await world(t);
    await w.register('img-1', 'p1', 'ds-1');
    await w.ask(clinician, { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }, false); // PERMIT
    await w.consent('p1', patient, { purpose: 'TREATMENT', status: 'denied' });
    await w.ask(clinician, { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }, true); // DENY, consent v1
  });
  afterEach(async () => {
    await t.close();
  });

  async function decisionSeqs(store: EventStore): Promise<number[]> {
    return (await store.readStream(accessStreamId('p1'))).filter((e) => e.type === 'AccessDecided').map((e) => e.globalSeq);
  }

  it('passes the untouched log, then names a DENY rewritten to PERMIT that the hash chain no longer catches', async () => {
    expect(await verifyDecisions(t.db)).toMatchObject({ ok: true, decisions: 2, rederived: 2 });
    const [, denied] = await decisionSeqs(t.store);
    await rewriteAndRehash(t.db, denied!, (d) => ({ ...d, decision: 'PERMIT', rule: 'clinician-treatment', reason: 'permitted by clinician-treatment', demographics: 'included' }));
    expect((await verifyChain(t.db)).ok).toBe(true); // the careful edit fools the chain
    const report = await verifyDecisions(t.db);
    expect(report).toMatchObject({ ok: false, firstDeviation: { globalSeq: denied, field: 'decision', recorded: 'PERMIT', derived: 'DENY' } });
  });

  it('names a decision that cites a consent version other than the one at its position', async () => {
    const [permitted] = await decisionSeqs(t.store);
    await rewriteAndRehash(t.db, permitted!, (d) => ({ ...d, consentVersion: 3 }));
    expect(await verifyDecisions(t.db)).toMatchObject({ ok: false, firstDeviation: { globalSeq: permitted, field: 'consentVersion', recorded: 3, derived: 0 } });
  });

  it('names a decision whose consent was rewritten under it (a denial erased from the consent stream)', async () => {
    const [consent] = (await t.store.readStream(consentStreamId('p1'))).map((e) => e.globalSeq);
    await rewriteAndRehash(t.db, consent!, (d) => ({ ...d, status: 'granted' }));
    const [, denied] = await decisionSeqs(t.store);
    expect(await verifyDecisions(t.db)).toMatchObject({ ok: false, firstDeviation: { globalSeq: denied, field: 'decision', recorded: 'DENY', derived: 'PERMIT' } });
  });

  it('counts, and does not fail, decisions under policies it does not know (another digest, none recorded)', async () => {
    const system: CommandContext = { actor: { id: 'custos', roles: [] }, correlationId: 'old' };
    const old = { policyVersion: 'v-old', rulesDigest: 'another-digest', parameters: {} };
    const version = policyVersionOf(old.rulesDigest, old.parameters);
    await t.store.append(policyStreamId(version), [{ type: 'PolicyActivated', schemaVersion: 1, data: { ...old, policyVersion: version }, metadata: { actor: system.actor, correlationId: 'old' }, occurredAt: w.clock.now() }], { expectedVersion: 'no-stream' });
    const [permitted] = await decisionSeqs(t.store);
    const stored = (await readLog(t.db, permitted!, permitted!, 1))[0]!;
    const decided: Record<string, unknown> = { ...(stored.data as Record<string, unknown>), decision: 'DENY', rule: 'whatever-it-was' };
    const v1 = Object.fromEntries(Object.entries(decided).filter(([k]) => k !== 'policyVersion'));
    await t.store.append(accessStreamId('p1'), [
      { type: 'AccessDecided', schemaVersion: 2, data: { ...decided, policyVersion: version }, metadata: stored.metadata, occurredAt: w.clock.now() },
      { type: 'AccessDecided', schemaVersion: 1, data: v1, metadata: stored.metadata, occurredAt: w.clock.now() },
    ], { expectedVersion: 'any' });
    expect(await verifyDecisions(t.db)).toEqual({ ok: true, events: expect.any(Number), decisions: 4, rederived: 2, unknownPolicies: { [version]: 1, none: 1 }, unreadableReasons: 0 });
  });

  it('refuses a policy activation whose parameters do not hash to its version', async () => {
    const [activation] = (await t.store.readStream(policyStreamId(POLICY.version))).map((e) => e.globalSeq);
    await rewriteAndRehash(t.db, activation!, (d) => ({ ...d, parameters: { consentDefaultGranted: [...PURPOSES], consentRestrictable: [] } }));
    expect(await verifyDecisions(t.db)).toMatchObject({ ok: false, badPolicy: { globalSeq: activation, policyVersion: POLICY.version } });
  });
});

describe('custos verify --decisions and reported accesses', () => {
  it('re-derives the decisions and passes over accesses other systems reported (they were never decided by Custos)', async () => {
    const t = await openTestStore('pglite', ALL_MIGRATIONS);
    try {
      const w = await world(t);
      await w.register('img-v1', 'pv1', 'ds-a');
      await w.ask(principals.clinician(), { resourceType: 'image', resourceId: 'img-v1', action: 'view', purpose: 'TREATMENT' }, false);
      const source = principals.auditSource();
      const reported = (id: string) => ({
        resourceType: 'AuditEvent',
        id,
        type: { code: 'rest' },
        action: 'R',
        recorded: '2026-06-01T07:00:00Z',
        outcome: id.endsWith('f') ? '8' : '0',
        agent: [{ who: { identifier: { value: 'u1' } }, requestor: true }],
        source: { observer: { reference: 'Device/ehr' } },
        entity: [{ what: { reference: 'Patient/pv1' } }],
      });
      const ingest = new IngestAuditEventsHandler(t.store, w.clock);
      await ingest.execute(new IngestAuditEventsCommand({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: reported('a') }, { resource: reported('bf') }] }, source, contextOf(source)));
      await w.ask(principals.clinician(), { resourceType: 'image', resourceId: 'img-v1', action: 'view', purpose: 'RESEARCH' }, false);
      expect(await verifyDecisions(t.db)).toMatchObject({ ok: true, decisions: 2, rederived: 2 });
    } finally {
      await t.close();
    }
  });
});
