import type { INestApplication } from '@nestjs/common';
import { EventStore } from '@custos/event-store';
import request from 'supertest';
import { ocsfProblems } from '../../../libs/sentinel/test/ocsf-schema.js';
import { bootEmbedded, devToken, IMAGE } from './helpers.js';

/** Incident response end to end (embedded: the gateway hosts the sentinel). */
describe('incidents over HTTP (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  let steward: string;
  let security: string;
  let admin: string;

  beforeAll(async () => {
    app = await bootEmbedded({ SENTINEL_POLL_MS: '20' });
    steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    security = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    admin = await devToken(app, { sub: 'admin-1', roles: ['admin'] });
    for (let i = 0; i < 41; i++) await http().post('/v1/images').set(bearer(steward)).send(IMAGE(`img-s${i}`, `sp${i}`)).expect(201);
  });
  afterAll(async () => {
    await app.close();
  });

  async function incidentsOf(actor: string, atLeast = 1): Promise<Array<Record<string, unknown>>> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const res = await http().get(`/v1/incidents?actor=${encodeURIComponent(actor)}`).set(bearer(security)).expect(200);
      const items = res.body.items as Array<Record<string, unknown>>;
      if (items.length >= atLeast) return items;
      if (Date.now() > deadline) throw new Error(`no incident for ${actor}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('a snooper opening 40 patients in minutes becomes one incident, with its blast radius, clocks and timeline', async () => {
    const snoop = await devToken(app, { sub: 'snoop-1', roles: ['clinician'] });
    for (let i = 0; i < 40; i++) {
      await http().post('/v1/access-requests').set(bearer(snoop)).send({ resourceType: 'image', resourceId: `img-s${i}`, action: 'view', purpose: 'TREATMENT' }).expect(200);
    }
    const [listed, ...more] = await incidentsOf('snoop-1');
    expect(more).toEqual([]);
    expect(listed).toMatchObject({ state: 'OPEN', severity: 'high', subject: { kind: 'actor', id: 'snoop-1' }, rules: ['many-patients'] });
    const id = listed?.incidentId as string;

    const got = (await http().get(`/v1/incidents/${id}`).set(bearer(security)).expect(200)).body;
    expect(got.patientIds).toHaveLength(30);
    expect(got.evidence).toHaveLength(30);
    expect(got.source).toBe('sentinel');

    const blast = (await http().get(`/v1/incidents/${id}/blast-radius`).set(bearer(security)).expect(200)).body;
    // The blast radius is exactly its 40 patients (the detection fired at the 30th).
    expect(blast.footprint).toHaveLength(40);
    expect((blast.footprint as Array<{ patientId: string }>).map((f) => f.patientId).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `sp${i}`).sort());
    for (const f of blast.footprint as Array<{ firstSeen: string; lastSeen: string }>) expect(f.lastSeen).toBe(f.firstSeen); // one access each
    expect(blast.footprint[0]).toMatchObject({ patientId: 'sp0', accesses: 1, resourceTypes: ['image'], purposes: ['TREATMENT'], emergency: false, explained: true });
    expect(blast.firstAnomalousAccess).toBe(blast.footprint[0].firstSeen);

    const clocks = (await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body;
    expect(clocks.clocks.map((c: { status: string }) => c.status)).toEqual(['not-applicable', 'not-applicable', 'not-applicable', 'not-applicable']);

    // The case moves only along its states, each step with a note.
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to: 'CONTAINED', note: 'skip ahead' }).expect(409);
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to: 'TRIAGED' }).expect(400);
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to: 'TRIAGED', note: 'Evening sweep of 40 charts; confirm with ward' }).expect(200);
    for (const to of ['INVESTIGATING', 'CONTAINED']) await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to, note: `to ${to}` }).expect(200);
    await http()
      .post(`/v1/incidents/${id}/assessment`)
      .set(bearer(security))
      .send({ factors: { natureAndExtent: 'imaging', unauthorizedPerson: 'staff', acquiredOrViewed: 'viewed', mitigation: 'locked' }, decision: 'breach', rationale: 'no need to know', affected: { total: 40, byRegion: { CA: 40 }, euResidents: 0 } })
      .expect(200);
    const running = (await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body.clocks as Array<{ clock: string; status: string }>;
    expect(running.map((c) => [c.clock, c.status])).toEqual([
      ['hipaa-individuals', 'running'],
      ['hipaa-media', 'not-applicable'],
      ['hipaa-hhs', 'running'],
      ['gdpr-art33', 'not-applicable'],
    ]);

    const drafts = (await http().get(`/v1/incidents/${id}/notification-draft`).set(bearer(security)).expect(200)).body.drafts as Array<{ regulation: string; applicable: boolean; sent: boolean; sections: Array<{ text: string; needsHuman: boolean }> }>;
    expect(drafts.map((d) => [d.regulation, d.applicable, d.sent])).toEqual([
      ['HIPAA 45 CFR 164.404(c)', true, false],
      ['GDPR Art. 33(3)', false, false],
    ]);
    expect(drafts[0]?.sections[1]?.text).toBe('The information involved: medical images (with their imaging metadata).');

    const timeline = (await http().get(`/v1/incidents/${id}/timeline`).set(bearer(security)).expect(200)).body.items as Array<{ type: string; data: Record<string, unknown> }>;
    expect(timeline.map((e) => e.type)).toEqual(['IncidentOpened', 'IncidentTransitioned', 'IncidentTransitioned', 'IncidentTransitioned', 'BreachAssessed']);
    expect(timeline[1]?.data.note).toBe('Evening sweep of 40 charts; confirm with ward');
    const csv = await http().get(`/v1/incidents/${id}/timeline`).set(bearer(security)).set('accept', 'text/csv').expect(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.text.split('\r\n')[0]).toBe('sequence,at,type,by,eventId,hash,data');
    const affected = await http().get(`/v1/incidents/${id}/affected-patients?format=csv`).set(bearer(security)).expect(200);
    expect(affected.text.split('\r\n').filter(Boolean)).toHaveLength(31);

    // For a SIEM: the case as OCSF (one Detection Finding, an Incident Finding per step), and the continuous feed.
    const ocsf = await http().get(`/v1/incidents/${id}/export?format=ocsf`).set(bearer(security)).expect(200);
    expect(ocsf.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = ocsf.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.class_uid)).toEqual([2004, 2005, 2005, 2005, 2005, 2005]);
    for (const l of lines) expect(ocsfProblems(l)).toEqual([]);
    await http().get(`/v1/incidents/${id}/export?format=cef`).set(bearer(security)).expect(400);
    // Each page read is itself recorded (a new event), so a tail never ends: read up to the head as it was.
    const head = (await app.get(EventStore).head()).lastSeq;
    let after = -1;
    const seen: Record<string, unknown>[] = [];
    while (after < head) {
      const page = await http().get(`/v1/siem/events?after=${after}&limit=50`).set(bearer(security)).expect(200);
      const next = Number(page.headers['x-custos-next-after']);
      seen.push(...page.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
      expect(next).toBeGreaterThan(after);
      after = next;
    }
    for (const l of seen) expect(ocsfProblems(l)).toEqual([]);
    expect(seen.filter((l) => l.class_uid === 6004 && l.activity_id === 1).length).toBeGreaterThanOrEqual(40);
    expect(seen.some((l) => l.class_uid === 2004)).toBe(true);
    await http().get('/v1/siem/events?after=-2').set(bearer(security)).expect(400);
    await http().get('/v1/siem/events').set(bearer(await devToken(app, { sub: 'dr-q', roles: ['clinician'] }))).expect(403);

    // The officer's note is sealed at rest: not in the store's clear data.
    const store = app.get(EventStore);
    const stored = await store.readStream(`incident-${id}`);
    expect(JSON.stringify(stored)).not.toContain('Evening sweep');
  });

  it('records every read of incidents, and refuses every role but the security officer (recorded)', async () => {
    const roles: Array<[string, string[]]> = [
      ['dr-x', ['clinician']],
      ['reg-x', ['regulator']],
      ['pat-x', ['patient']],
      ['stew-x', ['data-steward']],
      ['admin-x', ['admin']],
    ];
    for (const [sub, r] of roles) {
      const token = await devToken(app, { sub, roles: r, ...(r[0] === 'patient' ? { patient_id: 'sp1' } : {}) });
      await http().get('/v1/incidents').set(bearer(token)).expect(403);
      await http().post('/v1/incidents').set(bearer(token)).send({ title: 't', severity: 'low', subject: { kind: 'actor', id: 'x' } }).expect(403);
    }
    const store = app.get(EventStore);
    const events = await store.readAll(0, 100_000);
    expect(events.filter((e) => e.type === 'RouteAccessDenied' && (e.metadata.actor.id === 'reg-x' || e.metadata.actor.id === 'dr-x')).length).toBe(4);
    expect(events.some((e) => e.type === 'AuditDataRead' && (e.data as { resourceType: string }).resourceType === 'incidents' && e.metadata.actor.id === 'so-1')).toBe(true);
  });

  it('answers hostile input with 4xx problems, never 500', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['get', '/v1/incidents/not-an-id', undefined, 400],
      ['get', '/v1/incidents/inc-doesnotexist', undefined, 404],
      ['get', '/v1/incidents?cursor=%%%', undefined, 400],
      ['get', '/v1/incidents?limit=-1', undefined, 400],
      ['get', '/v1/incidents?from=10000-01-01', undefined, 400],
      ['get', '/v1/incidents?state=PWNED', undefined, 400],
      ['post', '/v1/incidents', { title: 't', severity: 'low', subject: { kind: 'actor', id: 'x' }, evidence: ['00000000-0000-4000-8000-000000000000'] }, 422],
      ['post', '/v1/incidents', { title: 't', severity: 'apocalyptic', subject: { kind: 'actor', id: 'x' } }, 400],
      ['post', '/v1/incidents', { title: 'x'.repeat(201), severity: 'low', subject: { kind: 'actor', id: 'x' } }, 400],
      ['post', '/v1/incidents', { title: 't', severity: 'low', subject: { kind: 'alien', id: 'x' } }, 400],
      ['post', '/v1/incidents', { title: 't', severity: 'low', subject: { kind: 'actor', id: 'x' }, discoveredAt: '2999-01-01' }, 400],
      ['post', '/v1/incidents', { title: '\ud800', severity: 'low', subject: { kind: 'actor', id: 'x' }, nested: JSON.parse('['.repeat(500) + ']'.repeat(500)) }, 400],
    ];
    for (const [method, url, body, status] of cases) {
      const req = method === 'get' ? http().get(url) : http().post(url).send(body as object);
      const res = await req.set(bearer(security));
      expect([url, res.status]).toEqual([url, status]);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    const opened = await http().post('/v1/incidents').set(bearer(security)).send({ title: 'tip from a nurse', severity: 'medium', subject: { kind: 'actor', id: 'dr-y' } }).expect(201);
    const id = opened.body.incidentId as string;
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to: 'TRIAGED', note: 'n'.repeat(4001) }).expect(400);
    await http().post(`/v1/incidents/${id}/holds`).set(bearer(security)).send({ kind: 'written', agency: 'FBI', from: '2026-01-01' }).expect(400);
    await http().post(`/v1/incidents/${id}/notifications`).set(bearer(security)).send({ recipientClass: 'hhs', channel: 'portal', date: '2026-01-01', contentHash: 'a'.repeat(64) }).expect(409);
    await http().put(`/v1/incidents/${id}/discovery`).set(bearer(security)).send({ discoveredAt: '2999-01-01', note: 'later' }).expect(400);
    // Two officers at once: whatever the order, the recorded transitions form one chain (no step is decided on a stale state).
    const results = await Promise.all(
      ['TRIAGED', 'DISMISSED', 'TRIAGED'].map((to, i) => http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to, note: `officer ${i}` })),
    );
    for (const r of results) expect([200, 409]).toContain(r.status);
    const steps = ((await http().get(`/v1/incidents/${id}/timeline`).set(bearer(security)).expect(200)).body.items as Array<{ type: string; data: { from?: string; to?: string } }>).filter((e) => e.type === 'IncidentTransitioned');
    expect(steps.length).toBe(results.filter((r) => r.status === 200).length);
    steps.reduce((state, step) => {
      expect(step.data.from).toBe(state);
      return step.data.to as string;
    }, 'OPEN');
  });

  it('reference data: a steward records profiles, an admin the workforce; a member opening their own record raises self-access', async () => {
    const clinician = await devToken(app, { sub: 'dr-z', roles: ['clinician'] });
    await http().put('/v1/patients/sp40/profile').set(bearer(clinician)).send({ familyName: 'Moreau', address: '1 rue X', region: 'IDF', country: 'FR', euDataSubject: true, vip: false, employee: false }).expect(403);
    const profile = { familyName: 'Moreau', address: '1 rue X', region: 'IDF', country: 'FR', euDataSubject: true, vip: false, employee: true };
    expect((await http().put('/v1/patients/sp40/profile').set(bearer(steward)).send(profile).expect(200)).body).toMatchObject({ changed: true });
    expect((await http().put('/v1/patients/sp40/profile').set(bearer(steward)).send(profile).expect(200)).body).toMatchObject({ changed: false });
    await http().put('/v1/patients/sp40/profile').set(bearer(steward)).send({ ...profile, country: 'France' }).expect(400);
    await http().put('/v1/workforce/nurse-9').set(bearer(steward)).send({ familyName: 'Moreau', address: '9 av Y', department: 'ICU', status: 'active', since: '2020-01-01', patientId: 'sp40' }).expect(403);
    await http().put('/v1/workforce/nurse-9').set(bearer(admin)).send({ familyName: 'Moreau', address: '9 av Y', department: 'ICU', status: 'active', since: '2020-01-01', patientId: 'sp40' }).expect(200);
    const nurse = await devToken(app, { sub: 'nurse-9', roles: ['clinician'] });
    await http().post('/v1/access-requests').set(bearer(nurse)).send({ resourceType: 'image', resourceId: 'img-s40', action: 'view', purpose: 'TREATMENT' }).expect(200);
    const [incident] = await incidentsOf('nurse-9');
    const full = (await http().get(`/v1/incidents/${incident?.incidentId as string}`).set(bearer(security)).expect(200)).body;
    expect(full.rules).toEqual(['relationship']);
    expect(full.patientIds).toEqual(['sp40']);
    // Name and address never appear in clear in the log.
    const store = app.get(EventStore);
    const all = JSON.stringify(await store.readAll(0, 100_000));
    expect(all).not.toContain('Moreau');
    expect(all).not.toContain('rue X');
  });
});
