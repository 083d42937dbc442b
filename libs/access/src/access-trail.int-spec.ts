import { EventStore } from '@custos/event-store';
import { type ImageDirectory, type ImageOwner } from '@custos/imaging';
import { KeyService, openKek, PayloadCipher } from '@custos/keys';
import { SystemClock } from '@custos/platform';
import { ProjectionRunner } from '@custos/projections';
import { commandContextOf, openTestStore, principals, type TestStore } from '@custos/testing';
import { AccessDecisions, ReviewEmergencyAccessCommand, ReviewEmergencyAccessHandler } from './access.handlers.js';
import { AccessDeniedError } from './access.errors.js';
import { AccessTrailProjection, readReviews, readTrail } from './access-trail.repository.js';
import { IngestAuditEventsCommand, IngestAuditEventsHandler } from './audit-ingest.handler.js';
import { toAuditEvent } from './fhir-audit-event.js';
import type { ConsentPort } from './consent.port.js';
import { ACCESS_PERSONAL } from './domain/access.events.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/** p1 consented to everything, p2 to nothing; img-1 is p1's, img-2 p2's. */
const consent: ConsentPort = {
  consentFor: (patientId, _purpose, categories) =>
    Promise.resolve({ version: 0, granted: Object.fromEntries(categories.map((c) => [c, patientId === 'p1'])), condition: { streamId: `consent-${patientId}`, version: 0 } }),
};
const owners: Record<string, ImageOwner> = { 'img-1': { patientId: 'p1', datasetId: 'ds-1' }, 'img-2': { patientId: 'p2', datasetId: 'ds-1' } };
const images = { owner: (id: string) => Promise.resolve(owners[id] ?? null) } as unknown as ImageDirectory; // only `owner` is asked for images

const REASON = 'unconscious in the ER, allergy history needed now';

/**
 * The access context below HTTP: decisions recorded through the handler (the emergency
 * reason sealed by the store's cipher), then projected into the trail and the review queue.
 */
describe('access decisions and the access-trail projection (PGlite)', () => {
  let t: TestStore;
  let store: EventStore;
  let cipher: PayloadCipher;
  let decisions: AccessDecisions;
  const clock = new SystemClock();
  const policy = { version: 'policy-test', rulesDigest: 'digest-test', parameters: {} };

  beforeEach(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
    cipher = new PayloadCipher(new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined)), ACCESS_PERSONAL);
    store = new EventStore(t.db, { sealer: cipher });
    decisions = new AccessDecisions(store, images, consent, clock, policy);
  });
  afterEach(() => t.close());

  const project = async () => {
    const runner = new ProjectionRunner(t.db, [new AccessTrailProjection()]);
    await runner.applyBatch(await store.readAll(0));
    expect(await runner.faults()).toEqual([]);
  };

  it('puts every decision in the trail, permits and refusals alike, with who, what and why', async () => {
    const clinician = principals.clinician();
    const researcher = principals.researcher();
    const view = { resourceType: 'image', action: 'view', purpose: 'TREATMENT' } as const;
    await decisions.decide({ ...view, resourceId: 'img-1' }, clinician, commandContextOf(clinician));
    await expect(decisions.decide({ ...view, resourceId: 'img-2' }, clinician, commandContextOf(clinician))).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(decisions.decide({ ...view, resourceId: 'img-2', purpose: 'RESEARCH' }, researcher, commandContextOf(researcher))).rejects.toBeInstanceOf(AccessDeniedError);
    await project();

    expect((await readTrail(t.db, { patientId: 'p1', limit: 10 })).items).toMatchObject([{ actor: { id: 'dr-1', roles: ['clinician'] }, resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', decision: 'PERMIT', emergency: false }]);
    const p2 = await readTrail(t.db, { patientId: 'p2', limit: 10 });
    expect(p2.items.map((i) => [i.actor.id, i.purpose, i.decision, i.rule, i.consentVersion])).toEqual([
      ['dr-1', 'TREATMENT', 'DENY', 'consent-not-granted', 0],
      ['res-1', 'RESEARCH', 'DENY', 'consent-not-granted', 0],
    ]);
    expect((await readTrail(t.db, { actorId: 'dr-1', decision: 'DENY', limit: 10 })).items).toHaveLength(1);
  });

  it("projects a reported agent's type and role codes namespaced (reported:<code>, reported:<system>|<code>), rows projected before the prefix too: never as Custos roles", async () => {
    const source = principals.auditSource();
    const ingest = new IngestAuditEventsHandler(store, clock);
    const auditEvent = {
      resourceType: 'AuditEvent',
      id: 'ae-roles',
      type: { code: 'rest' },
      action: 'R',
      recorded: new Date(Date.now() - 60_000).toISOString(),
      agent: [{ who: { reference: 'Practitioner/dr1' }, requestor: true, type: { coding: [{ code: 'admin' }] }, role: [{ coding: [{ code: 'security-officer' }, { system: 'urn:ehr:roles', code: 'admin' }] }] }],
      source: { observer: { reference: 'Device/ehr' } },
      entity: [{ what: { reference: 'Patient/p1' } }],
    };
    await ingest.execute(new IngestAuditEventsCommand(auditEvent, source, commandContextOf(source)));
    await project();
    const [item] = (await readTrail(t.db, { patientId: 'p1', limit: 10 })).items;
    expect(item?.actor).toEqual({ id: `${source.sub}/Practitioner/dr1`, roles: ['reported:admin', 'reported:security-officer', 'reported:urn:ehr:roles|admin'] });
    expect(toAuditEvent(item!)).toMatchObject({ agent: [{ role: item!.actor.roles.map((code) => ({ coding: [{ system: 'https://custos.dev/fhir/CodeSystem/reported-role', code }] })) }] });

    // A row projected before the prefix holds the bare codes: read, they are namespaced all the same.
    await t.db.query(`UPDATE custos_rm_access_trail SET actor_roles = '["admin","security-officer"]'::jsonb WHERE reported_id = 'ae-roles'`);
    expect((await readTrail(t.db, { patientId: 'p1', limit: 10 })).items[0]?.actor.roles).toEqual(['reported:admin', 'reported:security-officer']);
  });

  it('queues an emergency access for review with its reason kept sealed, and closes it with the sealed note', async () => {
    const clinician = principals.clinician();
    const { result } = await decisions.decide({ resourceType: 'image', resourceId: 'img-2', action: 'view', purpose: 'TREATMENT', emergencyReason: REASON }, clinician, commandContextOf(clinician));
    expect(result).toMatchObject({ decision: 'PERMIT', emergency: true });
    await project();

    const open = await readReviews(t.db, 'open', 10);
    expect(open).toMatchObject({ total: 1, items: [{ eventId: result.eventId, patientId: 'p2', actorId: 'dr-1', resourceId: 'img-2', reason: null, status: 'open' }] });
    const sealed = open.items[0]?.reasonSealed;
    expect(sealed).toMatch(/^eyJ/); // a compact JWE: the read model never holds the reason in clear
    expect(await cipher.openSealed(sealed as string)).toEqual({ emergencyReason: REASON });

    const officer = principals.securityOfficer();
    await new ReviewEmergencyAccessHandler(store, clock).execute(new ReviewEmergencyAccessCommand({ accessEventId: result.eventId, verdict: 'justified', note: 'confirmed with the ER lead' }, commandContextOf(officer)));
    await project();
    const closed = await readReviews(t.db, 'closed', 10);
    expect(closed.items).toMatchObject([{ eventId: result.eventId, status: 'closed', verdict: 'justified', note: null, reviewedBy: 'so-1' }]);
    expect(await cipher.openSealed(closed.items[0]?.noteSealed as string)).toEqual({ note: 'confirmed with the ER lead' });
    expect((await readReviews(t.db, 'open', 10)).total).toBe(0);
  });
});
