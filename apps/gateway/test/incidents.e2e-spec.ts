import type { INestApplication } from '@nestjs/common';
import { EventStore } from '@custos/event-store';
import request from 'supertest';
import { ocsfProblems } from '../../../libs/sentinel/test/ocsf-schema.js';
import { bootEmbedded, devToken, IMAGE, waitForProjection } from './helpers.js';

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
    // Affected: the blast radius (all 40), not only the 30 the detection named.
    const affected = await http().get(`/v1/incidents/${id}/affected-patients?format=csv`).set(bearer(security)).expect(200);
    expect(affected.text.split('\r\n').filter(Boolean)).toHaveLength(41);

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
      // An array where the subject object belongs: the decider refuses a case without a subject, whatever the DTO let through.
      ['post', '/v1/incidents', { title: 't', severity: 'low', subject: [] }, 400],
      ['post', '/v1/incidents', { title: 't', severity: 'low', subject: [{ kind: 'actor', id: 'x' }] }, 400],
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
    await http().post(`/v1/incidents/${id}/holds`).set(bearer(security)).send({ kind: 'written', agency: 'FBI', reference: null, from: '2026-01-01', until: '2026-02-01' }).expect(400);
    await http().post(`/v1/incidents/${id}/patients`).set(bearer(security)).send({ patientIds: [], note: 'n' }).expect(400);
    await http().post(`/v1/incidents/${id}/patients`).set(bearer(security)).send({ patientIds: [{}], note: 'n' }).expect(400);
    await http().post(`/v1/incidents/${id}/patients`).set(bearer(security)).send({ patientIds: 'p1', note: 'n' }).expect(400);
    // Counts per region are keyed by region codes (stored in clear): a name or an address there is 400 bad-counts, nothing stored.
    const factors = { natureAndExtent: 'a', unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' };
    const headBefore = (await app.get(EventStore).head()).lastSeq;
    for (const byRegion of [{ 'CA Jane Doe 1 Main St': 1 }, { 'jane doe': 1 }, { CA: 1, 'US-CA ': 1 }, { CA: -1 }, { CA: 1.5 }, Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`R${i}`, 0]))]) {
      const res = await http().post(`/v1/incidents/${id}/assessment`).set(bearer(security)).send({ factors, decision: 'breach', rationale: 'r', affected: { total: 1, byRegion, euResidents: 0 } });
      expect([Object.keys(byRegion)[0], res.status, res.body.code]).toEqual([Object.keys(byRegion)[0], 400, 'bad-counts']);
    }
    expect((await app.get(EventStore).readAll(headBefore + 1, 1000)).filter((e) => e.type === 'BreachAssessed')).toEqual([]);
    expect(JSON.stringify(await app.get(EventStore).readAll(0, 100_000))).not.toContain('Jane Doe');
    // Codes pass the edge (the case is not contained yet: the decider's 409).
    for (const byRegion of [{ CA: 1 }, { 'US-CA': 1, 'FR-IDF': 0, EU: 0 }]) {
      await http().post(`/v1/incidents/${id}/assessment`).set(bearer(security)).send({ factors, decision: 'breach', rationale: 'r', affected: { total: 1, byRegion, euResidents: 0 } }).expect(409);
    }
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
    await http().put('/v1/patients/sp40/profile').set(bearer(steward)).send({ ...profile, region: 'Jane Doe 1 Main St' }).expect(400);
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

  async function settle(): Promise<void> {
    const head = (await app.get(EventStore).head()).lastSeq;
    await waitForProjection(app, security, 'sp0', head);
  }
  const denialsOf = async (actor: string) => (await app.get(EventStore).readAll(0, 1_000_000)).filter((e) => e.type === 'RouteAccessDenied' && e.metadata.actor.id === actor && (e.data as { rule?: string }).rule === 'separation-of-duties').length;

  it('affected patients follow the blast radius: a snooper reading 80 patients past the cool-down shows 80 affected in the list, CSV, drafts and clocks; an officer adds one more with a note', async () => {
    for (let i = 0; i < 80; i++) await http().post('/v1/images').set(bearer(steward)).send(IMAGE(`img-w${i}`, `wp${i}`)).expect(201);
    const snoop = await devToken(app, { sub: 'snoop-80', roles: ['clinician'] });
    for (let i = 0; i < 80; i++) {
      await http().post('/v1/access-requests').set(bearer(snoop)).send({ resourceType: 'image', resourceId: `img-w${i}`, action: 'view', purpose: 'TREATMENT' }).expect(200);
    }
    const [listed, ...more] = await incidentsOf('snoop-80');
    expect(more).toEqual([]);
    const id = listed?.incidentId as string;
    await settle();
    const got = (await http().get(`/v1/incidents/${id}`).set(bearer(security)).expect(200)).body;
    expect(got.patientIds.length).toBeLessThan(80); // what the detections named: the cool-down silenced the rest
    const list = (await http().get(`/v1/incidents/${id}/affected-patients`).set(bearer(security)).expect(200)).body.items as Array<{ patientId: string; accesses: unknown[] }>;
    expect(list.map((p) => p.patientId).sort()).toEqual(Array.from({ length: 80 }, (_, i) => `wp${i}`).sort());
    for (const p of list) expect(p.accesses).toHaveLength(1);
    const csv = await http().get(`/v1/incidents/${id}/affected-patients`).set(bearer(security)).set('accept', 'text/csv').expect(200);
    expect(csv.text.split('\r\n').filter(Boolean)).toHaveLength(81);
    const drafts = (await http().get(`/v1/incidents/${id}/notification-draft`).set(bearer(security)).expect(200)).body.drafts as Array<{ sections: Array<{ text: string }> }>;
    expect(drafts[1]?.sections[0]?.text).toContain('Approximate number of data subjects: 80');
    expect((await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body.affected).toMatchObject({ total: 80 });

    // An officer adds a patient the trail does not tie to the snooper (a paper chart), with a note; a note is required.
    await http().post(`/v1/incidents/${id}/patients`).set(bearer(security)).send({ patientIds: ['paper-1'] }).expect(400);
    await http().post(`/v1/incidents/${id}/patients`).set(bearer(security)).send({ patientIds: ['paper-1'], note: 'paper chart read at the desk' }).expect(200);
    const after = (await http().get(`/v1/incidents/${id}/affected-patients`).set(bearer(security)).expect(200)).body.items as Array<{ patientId: string }>;
    expect(after).toHaveLength(81);
    expect(after.map((p) => p.patientId)).toContain('paper-1');
    // The case is assessed with an undercount: the clocks still count the record's 81.
    for (const to of ['TRIAGED', 'INVESTIGATING', 'CONTAINED']) await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to, note: `to ${to}` }).expect(200);
    await http()
      .post(`/v1/incidents/${id}/assessment`)
      .set(bearer(security))
      .send({ factors: { natureAndExtent: 'imaging', unauthorizedPerson: 'staff', acquiredOrViewed: 'viewed', mitigation: 'locked' }, decision: 'breach', rationale: 'no need', affected: { total: 50, byRegion: {}, euResidents: 0 } })
      .expect(200);
    const clocks = (await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body;
    expect(clocks.clocks.find((c: { clock: string }) => c.clock === 'hipaa-individuals').basis).toContain('breach of 81 individuals');
  });

  it('the officer an incident is about cannot work it (403 separation-of-duties, recorded); an ended case changes only by reopen (409 incident-ended)', async () => {
    const rogue = await devToken(app, { sub: 'so-rogue', roles: ['security-officer'] });
    const other = await devToken(app, { sub: 'so-2', roles: ['security-officer'] });
    const id = (await http().post('/v1/incidents').set(bearer(security)).send({ title: 'officer browsing', severity: 'high', subject: { kind: 'actor', id: 'so-rogue' } }).expect(201)).body.incidentId as string;
    const attempts: Array<[string, string, object]> = [
      ['put', 'assignee', { assignee: 'so-rogue' }],
      ['put', 'severity', { severity: 'low', reason: 'minor' }],
      ['post', 'verdict', { verdict: 'false-positive', note: 'was me, fine' }],
      ['post', 'transitions', { to: 'DISMISSED', note: 'nothing here' }],
      ['put', 'discovery', { discoveredAt: '2026-01-01', note: 'x' }],
      ['post', 'holds', { kind: 'oral', agency: 'FBI', from: '2026-01-01' }],
      ['post', 'patients', { patientIds: ['sp1'], note: 'x' }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await (method === 'put' ? http().put(`/v1/incidents/${id}/${path}`) : http().post(`/v1/incidents/${id}/${path}`)).set(bearer(rogue)).send(body);
      expect([path, res.status, res.body.code]).toEqual([path, 403, 'separation-of-duties']);
    }
    expect(await denialsOf('so-rogue')).toBe(attempts.length);
    // Nor read any of it (the investigators' notes least of all), whatever the case of their id; the list leaves it out.
    const shouting = await devToken(app, { sub: 'SO-ROGUE', roles: ['security-officer'] });
    const reads = ['', '/timeline', '/export', '/clocks', '/notification-draft', '/affected-patients', '/blast-radius'];
    for (const path of reads) {
      for (const who of [rogue, shouting]) {
        const res = await http().get(`/v1/incidents/${id}${path}`).set(bearer(who));
        expect([path, res.status, res.body.code]).toEqual([path, 403, 'separation-of-duties']);
      }
    }
    expect(await denialsOf('so-rogue')).toBe(attempts.length + reads.length);
    await settle();
    const listedFor = async (token: string) => ((await http().get('/v1/incidents?actor=so-rogue').set(bearer(token)).expect(200)).body.items as Array<{ incidentId: string }>).map((i) => i.incidentId);
    expect(await listedFor(other)).toContain(id);
    expect(await listedFor(rogue)).not.toContain(id);
    // Another officer cannot hand it to its subject either.
    expect((await http().put(`/v1/incidents/${id}/assignee`).set(bearer(other)).send({ assignee: 'so-rogue' }).expect(403)).body.code).toBe('separation-of-duties');
    const timeline = (await http().get(`/v1/incidents/${id}/timeline`).set(bearer(other)).expect(200)).body.items as unknown[];
    expect(timeline).toHaveLength(1);

    // Ended: only reopen moves it.
    for (const to of ['TRIAGED', 'INVESTIGATING']) await http().post(`/v1/incidents/${id}/transitions`).set(bearer(other)).send({ to, note: to }).expect(200);
    await http().post(`/v1/incidents/${id}/verdict`).set(bearer(other)).send({ verdict: 'true-positive', note: 'confirmed' }).expect(200);
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(other)).send({ to: 'DISMISSED', note: 'handled by HR' }).expect(200);
    const late: Array<[string, string, object]> = [
      ['post', 'verdict', { verdict: 'false-positive', note: 'changed my mind' }],
      ['put', 'severity', { severity: 'low', reason: 'r' }],
      ['put', 'discovery', { discoveredAt: '2026-01-01', note: 'x' }],
      ['put', 'assignee', { assignee: 'so-3' }],
    ];
    for (const [method, path, body] of late) {
      const res = await (method === 'put' ? http().put(`/v1/incidents/${id}/${path}`) : http().post(`/v1/incidents/${id}/${path}`)).set(bearer(other)).send(body);
      expect([path, res.status, res.body.code, res.body.allowed ?? res.body.details?.allowed]).toEqual([path, 409, 'incident-ended', ['reopen']]);
    }
    await http().post(`/v1/incidents/${id}/reopen`).set(bearer(rogue)).send({ note: 'reopen my own' }).expect(403);
    await http().post(`/v1/incidents/${id}/reopen`).set(bearer(other)).send({ note: 'new facts' }).expect(200);
    await http().put(`/v1/incidents/${id}/severity`).set(bearer(other)).send({ severity: 'critical', reason: 'more found' }).expect(200);
  });

  it('a note is something a reader can see (400 note-required, declared on each route), evidence names an event (400 no-evidence), a notification is dated when it was sent (400 bad-date)', async () => {
    const id = (await http().post('/v1/incidents').set(bearer(security)).send({ title: 'blank notes', severity: 'low', subject: { kind: 'actor', id: 'blank-1' } }).expect(201)).body.incidentId as string;
    const blanks: Array<[string, string, object, string]> = [
      ['post', 'transitions', { to: 'TRIAGED', note: '\u3164\u3164' }, 'note-required'],
      ['put', 'severity', { severity: 'low', reason: '\u200b \u200b' }, 'note-required'],
      ['post', 'verdict', { verdict: 'false-positive', note: '\u2800\u2800' }, 'note-required'],
      ['post', 'reopen', { note: '\uffa0' }, 'note-required'],
      ['post', 'holds', { kind: 'oral', agency: '\uffa0\u3164', from: new Date(Date.now() - 86_400_000).toISOString() }, 'note-required'],
      ['post', 'evidence', { eventIds: [], note: 'the trail' }, 'no-evidence'],
    ];
    for (const [method, path, body, code] of blanks) {
      const res = await (method === 'put' ? http().put(`/v1/incidents/${id}/${path}`) : http().post(`/v1/incidents/${id}/${path}`)).set(bearer(security)).send(body);
      expect([path, res.status, res.body.code]).toEqual([path, 400, code]);
    }
    for (const to of ['TRIAGED', 'INVESTIGATING', 'CONTAINED']) await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to, note: to }).expect(200);
    const assessment = { factors: { natureAndExtent: '\u200b', unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' }, decision: 'breach', rationale: 'r', affected: { total: 3, byRegion: {}, euResidents: 0 } };
    expect((await http().post(`/v1/incidents/${id}/assessment`).set(bearer(security)).send(assessment).expect(400)).body.code).toBe('note-required');
    await http().post(`/v1/incidents/${id}/assessment`).set(bearer(security)).send({ ...assessment, factors: { ...assessment.factors, natureAndExtent: 'a' } }).expect(200);

    const { discoveredAt } = (await http().get(`/v1/incidents/${id}`).set(bearer(security)).expect(200)).body as { discoveredAt: string };
    const notify = (date: string) => http().post(`/v1/incidents/${id}/notifications`).set(bearer(security)).send({ recipientClass: 'hhs', channel: 'portal', date, contentHash: 'c'.repeat(64) });
    for (const date of [new Date(Date.now() + 30 * 86_400_000).toISOString(), '2000-01-01', new Date(Date.parse(discoveredAt) - 60_000).toISOString()]) {
      const res = await notify(date);
      expect([date, res.status, res.body.code]).toEqual([date, 400, 'bad-date']);
    }
    const hhs = () => http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200).then((r) => (r.body.clocks as Array<{ clock: string; status: string }>).find((c) => c.clock === 'hipaa-hhs')?.status);
    expect(await hhs()).not.toBe('met');
    await notify(new Date().toISOString()).expect(200);
  });

  it("on a patient's case, an officer the trail shows on that patient cannot act (403, recorded); another can", async () => {
    const peeker = await devToken(app, { sub: 'so-dr', roles: ['security-officer', 'clinician'] });
    const peek = await http().post('/v1/access-requests').set(bearer(peeker)).send({ resourceType: 'image', resourceId: 'img-s5', action: 'view', purpose: 'TREATMENT' });
    // Refused or not (here refused: a decision, recorded), the attempt is in the trail: the officer touched the patient's record.
    expect([peek.status, peek.body.code]).toEqual([403, 'access-denied']);
    await settle();
    const id = (await http().post('/v1/incidents').set(bearer(security)).send({ title: 'VIP chart opened', severity: 'medium', subject: { kind: 'patient', id: 'sp5' } }).expect(201)).body.incidentId as string;
    expect((await http().post(`/v1/incidents/${id}/transitions`).set(bearer(peeker)).send({ to: 'DISMISSED', note: 'nothing' }).expect(403)).body.code).toBe('separation-of-duties');
    expect(await denialsOf('so-dr')).toBe(1);
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to: 'TRIAGED', note: 'looking' }).expect(200);
  });

  it('legal clocks: discovery and awareness only earlier than the first detection; oral holds 30 days in all; written holds need a reference and end within a year; each change in the history', async () => {
    const [incident] = await incidentsOf('snoop-1');
    const id = incident?.incidentId as string;
    const before = (await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body;
    const now = new Date().toISOString();
    // Re-dating to now (later than the detection) would restart overdue clocks: refused.
    expect((await http().put(`/v1/incidents/${id}/discovery`).set(bearer(security)).send({ discoveredAt: now, note: 'we only knew today' }).expect(400)).body.code).toBe('discovery-too-late');
    expect((await http().put(`/v1/incidents/${id}/discovery`).set(bearer(security)).send({ discoveredAt: before.discoveredAt, awareAt: now, note: 'aware today' }).expect(400)).body.code).toBe('discovery-too-late');
    const earlier = new Date(Date.parse(before.discoveredAt) - 86_400_000).toISOString();
    await http().put(`/v1/incidents/${id}/discovery`).set(bearer(security)).send({ discoveredAt: earlier, note: 'a nurse reported it the day before' }).expect(200);
    await http().put(`/v1/incidents/${id}/discovery`).set(bearer(security)).send({ discoveredAt: null, note: 'x' }).expect(400);

    const oral = (from: string) => http().post(`/v1/incidents/${id}/holds`).set(bearer(security)).send({ kind: 'oral', agency: 'State police', from });
    const day = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    await oral(day(60)).expect(200);
    expect((await oral(day(20)).expect(409)).body.code).toBe('oral-hold-exhausted');
    const written = (body: object) => http().post(`/v1/incidents/${id}/holds`).set(bearer(security)).send({ kind: 'written', agency: 'FBI', from: day(1), ...body });
    expect((await written({ until: '9999-12-31' }).expect(400)).body.code).toMatch(/hold-needs-reference|bad-date/);
    expect((await written({ reference: 'FBI-17', until: '9999-12-31' }).expect(400)).body.code).toBe('hold-too-long');
    expect((await written({ reference: 'FBI-17', until: new Date(Date.now() + 400 * 86_400_000).toISOString() }).expect(400)).body.code).toBe('hold-too-long');
    expect((await written({ reference: 'FBI-17', from: new Date(Date.now() + 86_400_000).toISOString(), until: new Date(Date.now() + 90 * 86_400_000).toISOString() }).expect(400)).body.code).toBe('bad-date');
    await written({ reference: 'FBI-17', until: new Date(Date.now() + 90 * 86_400_000).toISOString() }).expect(200);

    const after = (await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body;
    expect(after.discoveredAt).toBe(earlier);
    expect(after.history.map((h: { change: string; kind?: string }) => [h.change, h.kind ?? null])).toEqual([
      ['discovery', null],
      ['hold', 'oral'],
      ['hold', 'written'],
    ]);
    expect(after.history[0]).toMatchObject({ by: 'so-1', discoveredAt: { from: before.discoveredAt, to: earlier } });
    expect(Date.parse(after.history[1].until) - Date.parse(after.history[1].from)).toBe(30 * 86_400_000);
  });

  it('reference data about oneself: an admin cannot edit their own workforce record, nor a related steward the VIP/employee flags (403, recorded)', async () => {
    const workforce = { familyName: 'Keller', address: '5 Oak Rd', department: 'IT', status: 'active', since: '2020-01-01' };
    expect((await http().put('/v1/workforce/admin-1').set(bearer(admin)).send({ ...workforce, status: 'active' }).expect(403)).body.code).toBe('separation-of-duties');
    expect(await denialsOf('admin-1')).toBe(1);
    // Another admin records the steward, who is also patient sp7.
    const admin2 = await devToken(app, { sub: 'admin-2', roles: ['admin'] });
    await http().put('/v1/workforce/stew-7').set(bearer(admin2)).send({ ...workforce, patientId: 'sp7' }).expect(200);
    const steward7 = await devToken(app, { sub: 'stew-7', roles: ['data-steward'] });
    const profile = { familyName: 'Keller', address: '5 Oak Rd', region: 'CA', country: 'US', euDataSubject: false, vip: false, employee: false };
    expect((await http().put('/v1/patients/sp7/profile').set(bearer(steward7)).send(profile).expect(403)).body.code).toBe('separation-of-duties');
    // Same household (address), another patient: the flags are not theirs to set either.
    expect((await http().put('/v1/patients/sp8/profile').set(bearer(steward7)).send({ ...profile, familyName: 'Other' }).expect(403)).body.code).toBe('separation-of-duties');
    const rows = (await app.get(EventStore).readAll(0, 1_000_000)).filter((e) => e.type === 'RouteAccessDenied' && e.metadata.actor.id === 'stew-7');
    expect(rows.map((e) => (e.data as { rule: string; patientId?: string }).patientId)).toEqual(['sp7', 'sp8']);
    // An unrelated steward records it.
    await http().put('/v1/patients/sp7/profile').set(bearer(steward)).send({ ...profile, vip: true }).expect(200);
  });

  it('a related steward cannot take a VIP flag off in steps (rename away, drop the flag, rename back), nor hide the relation behind an invisible character', async () => {
    const admin2 = await devToken(app, { sub: 'admin-2', roles: ['admin'] });
    await http().put('/v1/workforce/steward-r').set(bearer(admin2)).send({ familyName: 'Moreau', address: '8 Quai Z', department: 'Records', status: 'active', since: '2020-01-01' }).expect(200);
    const related = await devToken(app, { sub: 'steward-r', roles: ['data-steward'] });
    const profile = { familyName: 'Moreau', address: '4 Place V', region: 'IDF', country: 'FR', euDataSubject: true, vip: true, employee: false };
    await http().put('/v1/patients/pat-moreau/profile').set(bearer(steward)).send(profile).expect(200);
    for (const change of [{ vip: false }, { familyName: 'Morel' }, { address: '5 Place V' }]) {
      expect((await http().put('/v1/patients/pat-moreau/profile').set(bearer(related)).send({ ...profile, ...change }).expect(403)).body.code).toBe('separation-of-duties');
    }
    // Related as the profile would stand: a zero-width space, a soft hyphen or a hyphen inside the name changes nothing.
    for (const [id, familyName] of [['pat-zw', 'Mo\u200breau'], ['pat-shy', 'More\u00adau'], ['pat-hy', 'M-o-r-e-a-u']] as const) {
      expect((await http().put(`/v1/patients/${id}/profile`).set(bearer(related)).send({ ...profile, familyName, vip: false }).expect(403)).body.code).toBe('separation-of-duties');
    }
    await http().put('/v1/patients/pat-other/profile').set(bearer(related)).send({ ...profile, familyName: 'Morel', address: '6 Place V', vip: false }).expect(200);
  });

  it('titles, hold agencies and references, notice channels and departments are sealed at rest, opened for officers, and never reach the SIEM feed', async () => {
    const head = (await app.get(EventStore).head()).lastSeq;
    const id = (await http().post('/v1/incidents').set(bearer(security)).send({ title: 'Complaint by Ms Quigley-Marsh about Dr Oyelaran', severity: 'medium', subject: { kind: 'actor', id: 'dr-oy' } }).expect(201)).body.incidentId as string;
    await http().post(`/v1/incidents/${id}/holds`).set(bearer(security)).send({ kind: 'written', agency: 'Ravensworth County Sheriff', reference: 'RCS-CASE-7731', from: new Date(Date.now() - 86_400_000).toISOString(), until: new Date(Date.now() + 30 * 86_400_000).toISOString() }).expect(200);
    for (const to of ['TRIAGED', 'INVESTIGATING', 'CONTAINED']) await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to, note: to }).expect(200);
    await http()
      .post(`/v1/incidents/${id}/assessment`)
      .set(bearer(security))
      .send({ factors: { natureAndExtent: 'a', unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' }, decision: 'breach', rationale: 'r', affected: { total: 1, byRegion: {}, euResidents: 0 } })
      .expect(200);
    // The trail shows nobody affected; the clocks run on the assessment's one, and say so.
    const clocks = (await http().get(`/v1/incidents/${id}/clocks`).set(bearer(security)).expect(200)).body;
    expect([clocks.affected, clocks.clocks[0].basis]).toEqual([{ total: 1, byRegion: {}, euResidents: 0 }, "breach of 1 individuals' PHI: notice within 60 days of discovery"]);
    await http().post(`/v1/incidents/${id}/notifications`).set(bearer(security)).send({ recipientClass: 'individuals', channel: 'letter to 12 Thornfield Lane', date: new Date().toISOString(), contentHash: 'b'.repeat(64) }).expect(200);
    await http().put('/v1/workforce/dr-oy').set(bearer(admin)).send({ familyName: 'Oyelaran', address: '3 Birch Way', department: 'Paediatric Oncology Ward 7', status: 'active', since: '2020-01-01' }).expect(200);
    const same = await http().put('/v1/workforce/dr-oy').set(bearer(admin)).send({ familyName: 'Oyelaran', address: '3 Birch Way', department: 'Paediatric Oncology Ward 7', status: 'active', since: '2020-01-01' }).expect(200);
    expect(same.body).toMatchObject({ changed: false });
    expect((await http().put('/v1/workforce/dr-oy').set(bearer(admin)).send({ familyName: 'Oyelaran', address: '3 Birch Way', department: 'Radiology', status: 'active', since: '2020-01-01' }).expect(200)).body).toMatchObject({ changed: true });

    const secrets = ['Quigley-Marsh', 'Ravensworth', 'RCS-CASE-7731', 'Thornfield', 'Paediatric Oncology'];
    const stored = JSON.stringify(await app.get(EventStore).readAll(head + 1, 100_000));
    for (const secret of secrets) expect([secret, stored.includes(secret)]).toEqual([secret, false]);
    const siem = (await http().get(`/v1/siem/events?after=${head}&limit=5000`).set(bearer(security)).expect(200)).text;
    for (const secret of secrets) expect([secret, siem.includes(secret)]).toEqual([secret, false]);
    for (const line of siem.split('\n').filter(Boolean)) expect(ocsfProblems(JSON.parse(line) as Record<string, unknown>)).toEqual([]);
    // The officer reads them: the title on the case, agency and channel in the timeline.
    expect((await http().get(`/v1/incidents/${id}`).set(bearer(security)).expect(200)).body.title).toBe('Complaint by Ms Quigley-Marsh about Dr Oyelaran');
    const timeline = JSON.stringify((await http().get(`/v1/incidents/${id}/timeline`).set(bearer(security)).expect(200)).body);
    for (const secret of ['Ravensworth County Sheriff', 'RCS-CASE-7731', 'letter to 12 Thornfield Lane']) expect(timeline).toContain(secret);
  });

  it("erasing a patient named in a case keeps the case's notes under the legal-claims exception (GDPR Art. 17(3)(e)), and the erasure answer says so", async () => {
    for (const p of ['er1', 'er2']) await http().post('/v1/images').set(bearer(steward)).send(IMAGE(`img-${p}`, p)).expect(201);
    const id = (await http().post('/v1/incidents').set(bearer(security)).send({ title: 'chart of er1 read', severity: 'medium', subject: { kind: 'actor', id: 'dr-q9' }, patientIds: ['er1'] }).expect(201)).body.incidentId as string;
    await http().post(`/v1/incidents/${id}/transitions`).set(bearer(security)).send({ to: 'TRIAGED', note: 'patient er1 called about her scan' }).expect(200);
    await settle();
    const erased = (await http().post('/v1/patients/er1/erasure').set(bearer(steward)).send({ reference: 'ticket-er1' }).expect(200)).body;
    expect(erased.retained).toMatchObject({ basis: 'GDPR Art. 17(3)(e)', incidents: [id] });
    const timeline = (await http().get(`/v1/incidents/${id}/timeline`).set(bearer(security)).expect(200)).body.items as Array<{ data: { note?: unknown } }>;
    expect(timeline[1]?.data.note).toBe('patient er1 called about her scan');
    // A patient named in no case: nothing retained.
    expect((await http().post('/v1/patients/er2/erasure').set(bearer(steward)).send({ reference: 'ticket-er2' }).expect(200)).body.retained.incidents).toEqual([]);
  });
});
