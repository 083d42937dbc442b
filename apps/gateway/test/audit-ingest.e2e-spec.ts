import type { INestApplication } from '@nestjs/common';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Database } from '@custos/event-store';
import { principals } from '@custos/testing';
import request from 'supertest';
import { verifyBundle } from '../../verifier/src/verify-bundle.js';
import { bootEmbedded, tokenFor, waitForProjection } from './helpers.js';

/** The FHIR R4 and IHE BALP AuditEvent examples kept as test data (see their README). */
const DATA = join(import.meta.dirname, '../../../libs/access/test-data/fhir');
const EXAMPLES = ['r4', 'balp'].flatMap((dir) =>
  readdirSync(join(DATA, dir))
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: `${dir}/${f}`, resource: JSON.parse(readFileSync(join(DATA, dir, f), 'utf8')) as Record<string, unknown> })),
);

/** A read of one patient's report by an EHR user, BALP-shaped. */
function read(id: string, patientId: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'AuditEvent',
    id,
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    action: 'R',
    recorded: new Date(Date.now() - 60_000).toISOString(),
    outcome: '0',
    purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] }],
    agent: [{ who: { identifier: { system: 'urn:ehr:user', value: 'u42' }, display: 'Dr Jane Roe' }, requestor: true }],
    source: { observer: { reference: 'Device/ehr' } },
    entity: [{ what: { reference: `Patient/${patientId}` }, role: { code: '1' } }, { what: { reference: 'DiagnosticReport/r9', display: 'CT chest, suspected cancer' } }],
    ...over,
  };
}

interface Ingested {
  kind: string;
  accepted: number;
  duplicates: number;
  entries: Array<{ path: string; auditEventId: string; eventId: string; sequence: number; patientId: string | null; duplicate: boolean }>;
}

describe('FHIR AuditEvent ingest (embedded)', () => {
  let app: INestApplication;
  let source: string;
  let other: string;
  let security: string;
  const http = () => request(app.getHttpServer());
  const ingest = (token: string, body: unknown, type = 'application/fhir+json') =>
    http().post('/v1/audit/ingest').set('authorization', `Bearer ${token}`).set('content-type', type).send(JSON.stringify(body));
  const count = async (sql: string, params: unknown[] = []) => Number((await app.get(Database).query<{ n: string | number }>(sql, params))[0]?.n);

  beforeAll(async () => {
    app = await bootEmbedded();
    source = await tokenFor(app, principals.auditSource());
    other = await tokenFor(app, principals.auditSource({ sub: 'viewer-2' }));
    security = await tokenFor(app, principals.securityOfficer());
  });
  afterAll(async () => {
    await app.close();
  });

  it.each(EXAMPLES.map((e) => [e.file, e.resource] as const))('accepts the published example %s', async (_file, resource) => {
    const res = await ingest(source, resource).expect(200);
    expect(res.body).toMatchObject({ kind: 'AuditEvent', accepted: 1, duplicates: 0, entries: [{ path: 'AuditEvent', auditEventId: resource.id, duplicate: false }] });
  });

  it("puts a reported access in the patient's trail, JSON and FHIR, marked as reported by its source; the free text is not in the log in clear", async () => {
    const res = await ingest(source, read('trail-1', 'pt-trail'), 'application/json').expect(200);
    const [entry] = (res.body as Ingested).entries;
    expect(entry).toMatchObject({ patientId: 'pt-trail', duplicate: false });
    await waitForProjection(app, security, 'pt-trail', entry!.sequence);

    const trail = await http().get('/v1/patients/pt-trail/access-trail').set('authorization', `Bearer ${security}`).expect(200);
    expect(trail.body.items[0]).toEqual(
      expect.objectContaining({
        eventId: entry!.eventId,
        actor: { id: 'ehr-1/urn:ehr:user|u42', roles: [] },
        patientId: 'pt-trail',
        resourceType: 'DiagnosticReport',
        resourceId: 'DiagnosticReport/r9',
        action: 'read',
        purpose: 'TREATMENT',
        decision: 'reported-success',
        rule: 'reported-by-source',
        reported: expect.objectContaining({ source: 'ehr-1', auditEventId: 'trail-1', outcome: '0', note: 'reported by ehr-1, not decided by Custos' }),
      }),
    );

    const patient = await tokenFor(app, principals.patient({ sub: 'pat-trail', patientId: 'pt-trail' }));
    const fhir = await http().get('/v1/patients/pt-trail/access-trail').set('authorization', `Bearer ${patient}`).set('accept', 'application/fhir+json').expect(200);
    expect(fhir.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const [event] = (fhir.body.entry as Array<{ resource: Record<string, unknown> }>).map((e) => e.resource);
    expect(event).toMatchObject({
      resourceType: 'AuditEvent',
      id: entry!.eventId,
      meta: { tag: [{ code: 'reported', display: 'reported by ehr-1, not decided by Custos' }] },
      action: 'R',
      outcome: '0',
      outcomeDesc: 'reported by ehr-1, not decided by Custos',
      source: { observer: { identifier: { value: 'ehr-1' } } },
    });

    const stored = await app.get(Database).query<{ data: unknown }>(`SELECT data FROM custos_events WHERE type = 'AccessReported' AND data->>'auditEventId' = 'trail-1'`);
    expect(JSON.stringify(stored)).not.toMatch(/Jane|cancer/);
    expect(JSON.stringify(stored)).toMatch(/"sealed"/);
  });

  it("namespaces the agent's reported type and role codes in the trail (reported:…), JSON and FHIR: no reported role reads as a Custos role", async () => {
    const agent = [{ who: { reference: 'Practitioner/dr1' }, requestor: true, type: { coding: [{ code: 'admin' }] }, role: [{ coding: [{ code: 'security-officer' }, { system: 'https://custos.dev/fhir/CodeSystem/role', code: 'regulator' }] }] }];
    const res = await ingest(source, read('agent-codes-1', 'pt-agent-codes', { agent })).expect(200);
    const [entry] = (res.body as Ingested).entries;
    await waitForProjection(app, security, 'pt-agent-codes', entry!.sequence);

    const trail = await http().get('/v1/patients/pt-agent-codes/access-trail').set('authorization', `Bearer ${security}`).expect(200);
    const roles = (trail.body.items[0] as { actor: { id: string; roles: string[] } }).actor;
    expect(roles).toEqual({ id: 'ehr-1/Practitioner/dr1', roles: ['reported:admin', 'reported:security-officer', 'reported:https://custos.dev/fhir/CodeSystem/role|regulator'] });
    expect(roles.roles.filter((r) => ['admin', 'security-officer', 'regulator', 'clinician', 'patient', 'steward', 'audit-source'].includes(r))).toEqual([]);

    const fhir = await http().get('/v1/patients/pt-agent-codes/access-trail').set('authorization', `Bearer ${security}`).set('accept', 'application/fhir+json').expect(200);
    const [event] = (fhir.body.entry as Array<{ resource: { agent: Array<{ role?: Array<{ coding: Array<{ system?: string; code: string }> }> }> } }>).map((e) => e.resource);
    const codings = event!.agent.flatMap((a) => (a.role ?? []).flatMap((r) => r.coding));
    expect(codings).toHaveLength(3);
    for (const c of codings) {
      expect(c.system).toBe('https://custos.dev/fhir/CodeSystem/reported-role');
      expect(c.code).toMatch(/^reported:/);
    }
  });

  it('takes a retry as the same access (duplicate: true, the original event), and the same id from another source as another access', async () => {
    const first = (await ingest(source, read('retry-1', 'pt-retry')).expect(200)).body as Ingested;
    const again = (await ingest(source, read('retry-1', 'pt-retry')).expect(200)).body as Ingested;
    expect(again).toMatchObject({ accepted: 0, duplicates: 1, entries: [{ eventId: first.entries[0]!.eventId, sequence: first.entries[0]!.sequence, duplicate: true }] });
    const elsewhere = (await ingest(other, read('retry-1', 'pt-retry')).expect(200)).body as Ingested;
    expect(elsewhere.entries[0]).toMatchObject({ duplicate: false });
    expect(elsewhere.entries[0]!.eventId).not.toBe(first.entries[0]!.eventId);
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported' AND data->>'auditEventId' = 'retry-1'`)).toBe(2);
  });

  it('records 50 concurrent identical posts once: one new event, 49 duplicates naming it', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => ingest(source, read('race-1', 'pt-race'))));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 50 }, () => 200));
    const entries = answers.map((a) => (a.body as Ingested).entries[0]!);
    expect(entries.filter((e) => !e.duplicate)).toHaveLength(1);
    expect(new Set(entries.map((e) => e.eventId)).size).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported' AND data->>'auditEventId' = 'race-1'`)).toBe(1);
  });

  it('takes a transaction Bundle whole or not at all, and answers per entry', async () => {
    const entry = (resource: unknown) => ({ resource, request: { method: 'POST', url: 'AuditEvent' } });
    const bad = { resourceType: 'Bundle', type: 'transaction', entry: [entry(read('tx-1', 'pt-tx')), entry(read('tx-2', 'pt-tx')), entry(read('tx-3', 'pt-tx')), entry(read('tx-4', 'pt-tx', { recorded: 'last tuesday' }))] };
    const refused = await ingest(source, bad).expect(400);
    expect(refused.body).toMatchObject({ code: 'invalid-audit-event', resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'value', expression: ['Bundle.entry[3].resource.recorded'] }] });
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported' AND data->>'auditEventId' LIKE 'tx-%'`)).toBe(0);

    const good = { ...bad, entry: bad.entry.slice(0, 3) };
    const first = (await ingest(source, { ...good, entry: good.entry.slice(0, 1) }).expect(200)).body as Ingested;
    const all = (await ingest(source, good).expect(200)).body as Ingested;
    expect(all).toMatchObject({ kind: 'transaction', accepted: 2, duplicates: 1 });
    expect(all.entries.map((e) => [e.path, e.auditEventId, e.duplicate])).toEqual([
      ['Bundle.entry[0].resource', 'tx-1', true],
      ['Bundle.entry[1].resource', 'tx-2', false],
      ['Bundle.entry[2].resource', 'tx-3', false],
    ]);
    expect(all.entries[0]!.eventId).toBe(first.entries[0]!.eventId);

    // A FHIR client asking for FHIR gets a transaction-response Bundle, located at the trail's AuditEvents.
    const fhir = await ingest(source, good).set('accept', 'application/fhir+json').expect(200);
    expect(fhir.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(fhir.body).toMatchObject({
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: all.entries.map((e) => ({ response: { status: '200 OK', location: `AuditEvent/${e.eventId}`, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'duplicate' }] } } })),
    });
  });

  it('takes a batch of 1,000 AuditEvents (the cap) in one go, and refuses 1,001', async () => {
    const slim = (i: number) => ({ resourceType: 'AuditEvent', id: `bulk-${i}`, type: { code: 'rest' }, action: 'R', recorded: '2026-01-01T00:00:00Z', agent: [{ who: { reference: 'Practitioner/u7' }, requestor: true }], source: { observer: { reference: 'Device/pacs' } }, entity: [{ what: { reference: `Patient/pt-bulk-${i % 40}` } }] });
    const bundle = (n: number) => ({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: n }, (_, i) => ({ resource: slim(i) })) });
    const res = await ingest(source, bundle(1000)).expect(200);
    expect(res.body).toMatchObject({ kind: 'batch', accepted: 1000, duplicates: 0 });
    const refused = await ingest(source, bundle(1001)).expect(400);
    expect(refused.body.issue).toEqual([expect.objectContaining({ code: 'too-costly', expression: ['Bundle.entry'] })]);
  });

  it('answers hostile input with 4xx, an OperationOutcome where the body is FHIR, never a 500, and records nothing', async () => {
    const before = await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported'`);
    const outcome = async (body: unknown, expression: string) => {
      const res = await ingest(source, body);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'invalid-audit-event', resourceType: 'OperationOutcome' });
      expect((res.body.issue as Array<{ expression: string[] }>).map((i) => i.expression[0])).toContain(expression);
    };
    await outcome(read('h1', 'pt-h', { agent: [{ who: { reference: 'Practitioner/x' } }] }), 'AuditEvent.agent[0].requestor');
    await outcome({ ...read('h2', 'pt-h'), id: undefined }, 'AuditEvent.id');
    await outcome(read('h3', 'pt-h', { recorded: '2026-13-01T00:00:00Z' }), 'AuditEvent.recorded');
    await outcome(read('h4', 'pt-h', { recorded: '9999-01-01T00:00:00Z' }), 'AuditEvent.recorded');
    await outcome(read('h5', 'pt-h', { outcomeDesc: null }), 'AuditEvent.outcomeDesc');
    await outcome(read('h6', 'pt-h', { outcomeDesc: 'x'.repeat(5000) }), 'AuditEvent.outcomeDesc');
    await outcome(read('h7', 'pt-h', { entity: [{ what: { reference: 'Patient/../../etc' } }] }), 'AuditEvent.entity[0].what.reference');
    await outcome(read('h8', 'pt-h', { source: [] }), 'AuditEvent.source');
    await outcome(read('h9', 'pt-h', { agent: 'everyone' }), 'AuditEvent.agent');
    await outcome(read('h10 ; drop', 'pt-h'), 'AuditEvent.id');
    await outcome({ resourceType: 'Patient', id: 'p1' }, 'resourceType');
    await outcome({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Bundle', type: 'batch', entry: [] } }] }, 'Bundle.entry[0].resource.resourceType');
    let deep: Record<string, unknown> = { url: 'x' };
    for (let i = 0; i < 20; i++) deep = { extension: [deep] };
    const nested = await ingest(source, read('h11', 'pt-h', { extension: [deep] }));
    expect(nested.status).toBe(400);

    // What the edge refuses before the route: a prototype key, a body that is not an object, not JSON, too large.
    const raw = (body: string, type = 'application/fhir+json') => http().post('/v1/audit/ingest').set('authorization', `Bearer ${source}`).set('content-type', type).send(body);
    expect((await raw('{"resourceType":"AuditEvent","id":"h13","__proto__":{"polluted":true}}')).body.code).toBe('forbidden-key');
    expect((await raw('[{"resourceType":"AuditEvent"}]')).body).toMatchObject({ code: 'invalid-audit-event', issue: [{ code: 'structure', expression: ['$'] }] });
    expect((await raw('{"resourceType":')).status).toBe(400);
    expect((await raw('<AuditEvent/>', 'application/fhir+xml')).status).toBe(415);
    expect((await raw(JSON.stringify(read('h14', 'pt-h', { extension: [{ url: 'x', valueString: 'y'.repeat(1_100_000) }] })))).status).toBe(413);
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported'`)).toBe(before);
  });

  it("refuses another domain's patient (an identifier of another system, an absolute Patient reference to another server) with a 400 naming the FHIR path, and records nothing", async () => {
    const before = await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported'`);
    const byIdentifier = await ingest(source, read('foreign-1', 'x', { entity: [{ what: { identifier: { system: 'urn:oid:9.9.9.OTHER', value: 'atkB' } }, role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1' } }] })).expect(400);
    expect(byIdentifier.body).toMatchObject({ code: 'invalid-audit-event', resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'value', expression: ['AuditEvent.entity[0].what.identifier.system'] }] });
    const byReference = await ingest(source, read('foreign-2', 'x', { entity: [{ what: { reference: 'https://other-hospital.example/fhir/Patient/atkA' } }] })).expect(400);
    expect(byReference.body).toMatchObject({ code: 'invalid-audit-event', resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'value', expression: ['AuditEvent.entity[0].what.reference'] }] });
    expect(JSON.stringify([byIdentifier.body, byReference.body])).not.toMatch(/atk|other-hospital|9\.9\.9/);
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported'`)).toBe(before);
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE stream_id IN ('access-atkA', 'access-atkB')`)).toBe(0);

    // Custos' own identifier system (the one its trail's FHIR form writes) is the local one by default.
    const own = (await ingest(source, read('own-system-1', 'x', { entity: [{ what: { identifier: { system: 'https://custos.dev/fhir/patient-id', value: 'pt-own' } }, role: { code: '1' } }] })).expect(200)).body as Ingested;
    expect(own.entries[0]).toMatchObject({ patientId: 'pt-own' });
  });

  it('lets only audit-source ingest (every refusal recorded), and audit-source do nothing else', async () => {
    const denied = () => count(`SELECT count(*) AS n FROM custos_events WHERE type = 'RouteAccessDenied' AND data->>'route' = '/v1/audit/ingest'`);
    const before = await denied();
    const others = [principals.clinician(), principals.patient({ patientId: 'pt-roles' }), principals.admin(), principals.securityOfficer(), principals.regulator(), principals.steward()];
    for (const p of others) {
      const res = await ingest(await tokenFor(app, p), read(`roles-${p.sub}`, 'pt-roles'));
      expect([p.roles[0], res.status, res.body.code]).toEqual([p.roles[0], 403, 'not-entitled']);
    }
    expect(await denied()).toBe(before + others.length);
    expect(await count(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessReported' AND data->>'auditEventId' LIKE 'roles-%'`)).toBe(0);

    const asSource = (method: 'get' | 'post', path: string) => http()[method](path).set('authorization', `Bearer ${source}`);
    expect((await asSource('post', '/v1/access-requests').send({ resourceType: 'patient-record', resourceId: 'pt-roles', action: 'view', purpose: 'TREATMENT' })).status).toBe(403);
    expect((await asSource('get', '/v1/patients/pt-roles/access-trail')).status).toBe(403);
    expect((await asSource('get', '/v1/audit/events')).status).toBe(403);
    expect((await asSource('get', '/v1/log/checkpoint')).status).toBe(403);
  });

  it("exports a patient's reported accesses with the rest, and the offline verifier accepts the bundle", async () => {
    const res = (await ingest(source, read('export-1', 'pt-export')).expect(200)).body as Ingested;
    const regulator = await tokenFor(app, principals.regulator());
    const deadline = Date.now() + 15_000;
    for (;;) {
      const cp = await http().get('/v1/log/checkpoint').set('authorization', `Bearer ${regulator}`);
      if (cp.status === 200 && (cp.body.treeSize as number) > res.entries[0]!.sequence) break;
      if (Date.now() > deadline) throw new Error('no checkpoint');
      await new Promise((r) => setTimeout(r, 25));
    }
    const exported = await http().post('/v1/exports').set('authorization', `Bearer ${regulator}`).send({ patientId: 'pt-export', from: '2020-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }).expect(200);
    const types = (exported.body.events as Array<{ event: { type: string; eventId: string } }>).map((e) => e.event);
    expect(types).toContainEqual(expect.objectContaining({ type: 'AccessReported', eventId: res.entries[0]!.eventId }));
    const jwks = (await http().get('/.well-known/jwks.json').expect(200)).body as object;
    expect(await verifyBundle(exported.body, { jwks })).toMatchObject({ ok: true });
  });
});

describe('FHIR AuditEvent ingest with a configured patient domain (AUDIT_INGEST_PATIENT_SYSTEMS, AUDIT_INGEST_FHIR_BASE)', () => {
  let app: INestApplication;
  let source: string;
  const ingest = (body: unknown) => request(app.getHttpServer()).post('/v1/audit/ingest').set('authorization', `Bearer ${source}`).set('content-type', 'application/fhir+json').send(JSON.stringify(body));

  beforeAll(async () => {
    app = await bootEmbedded({ AUDIT_INGEST_PATIENT_SYSTEMS: 'urn:oid:1.2.3.LOCAL', AUDIT_INGEST_FHIR_BASE: 'https://ehr.example/fhir/' });
    source = await tokenFor(app, principals.auditSource());
  });
  afterAll(async () => {
    await app.close();
  });

  it('takes the local system and the local base, and still refuses other systems and servers (Custos\' own system included once replaced)', async () => {
    const patientEntity = (what: Record<string, unknown>) => [{ what, role: { code: '1' } }];
    expect((await ingest(read('conf-1', 'x', { entity: patientEntity({ identifier: { system: 'urn:oid:1.2.3.LOCAL', value: 'pt-conf' } }) })).expect(200)).body.entries[0]).toMatchObject({ patientId: 'pt-conf' });
    expect((await ingest(read('conf-2', 'x', { entity: patientEntity({ reference: 'https://ehr.example/fhir/Patient/pt-conf/_history/2' }) })).expect(200)).body.entries[0]).toMatchObject({ patientId: 'pt-conf' });
    expect((await ingest(read('conf-3', 'x', { entity: patientEntity({ identifier: { system: 'https://custos.dev/fhir/patient-id', value: 'pt-conf' } }) })).expect(400)).body.issue[0].expression).toEqual(['AuditEvent.entity[0].what.identifier.system']);
    expect((await ingest(read('conf-4', 'x', { entity: patientEntity({ reference: 'https://other-hospital.example/fhir/Patient/pt-conf' }) })).expect(400)).body.issue[0].expression).toEqual(['AuditEvent.entity[0].what.reference']);
  });
});
