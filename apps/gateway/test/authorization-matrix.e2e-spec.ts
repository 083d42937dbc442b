import type { INestApplication } from '@nestjs/common';
import { Database } from '@custos/event-store';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from './helpers.js';

/**
 * Every role × route × own/other patient → the status a user should see, over HTTP. Every
 * 403 in this table is also recorded in the log (checked at the end).
 */
const PRINCIPALS = {
  'patient (own)': { sub: 'pat-1', roles: ['patient'], patient_id: 'p1' },
  'patient (other)': { sub: 'pat-2', roles: ['patient'], patient_id: 'p2' },
  clinician: { sub: 'dr-1', roles: ['clinician'], credentials: ['certified-radiologist'] },
  annotator: { sub: 'ann-1', roles: ['annotator'] },
  reviewer: { sub: 'rev-1', roles: ['reviewer'] },
  'data-steward': { sub: 'stew-1', roles: ['data-steward'] },
  researcher: { sub: 'res-1', roles: ['researcher'] },
  'security-officer': { sub: 'sec-1', roles: ['security-officer'] },
  regulator: { sub: 'reg-1', roles: ['regulator'] },
  admin: { sub: 'adm-1', roles: ['admin'] },
} as const;
type Who = keyof typeof PRINCIPALS;

interface Route {
  name: string;
  send: (app: INestApplication, token: string, who: Who) => request.Test;
  expect: Record<Who, number>;
}

const all = (status: number, except: Partial<Record<Who, number>> = {}) =>
  Object.fromEntries((Object.keys(PRINCIPALS) as Who[]).map((w) => [w, except[w] ?? status])) as Record<Who, number>;

const ROUTES: Route[] = [
  {
    name: 'POST /v1/images',
    send: (app, t, who) => request(app.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${t}`).send(IMAGE(`img-new-${who.replace(/\W/g, '')}`, 'p9')),
    expect: all(403, { 'data-steward': 201, admin: 201 }),
  },
  {
    // A read of an image is a decision like any access (recorded); another patient's image is
    // a 404 to a patient, the same as a missing one.
    name: 'GET /v1/images/{id}?purpose=TREATMENT (of p1)',
    send: (app, t) => request(app.getHttpServer()).get('/v1/images/img-1?purpose=TREATMENT').set('authorization', `Bearer ${t}`),
    expect: all(403, { clinician: 200, 'patient (own)': 200, 'patient (other)': 404 }),
  },
  {
    name: 'GET /v1/images/{id}?purpose=AI_TRAINING (of p1, no consent)',
    send: (app, t) => request(app.getHttpServer()).get('/v1/images/img-1?purpose=AI_TRAINING').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'patient (own)': 200, 'patient (other)': 404 }),
  },
  {
    name: 'POST /v1/access-requests (image of p1, view, TREATMENT)',
    send: (app, t) => request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${t}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }),
    expect: all(403, { clinician: 200, 'patient (own)': 200, 'patient (other)': 404 }),
  },
  {
    name: 'POST /v1/access-requests (patient-record p1, view, TREATMENT)',
    send: (app, t) => request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${t}`).send({ resourceType: 'patient-record', resourceId: 'p1', action: 'view', purpose: 'TREATMENT' }),
    expect: all(403, { clinician: 200, 'patient (own)': 200, 'patient (other)': 404 }),
  },
  {
    name: 'POST /v1/access-requests (image of p1, download, OPERATIONS)',
    send: (app, t) => request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${t}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'download', purpose: 'OPERATIONS' }),
    expect: all(403, { 'data-steward': 200, 'patient (own)': 200, 'patient (other)': 404 }),
  },
  {
    name: 'POST /v1/access-requests (image of p1, RESEARCH, no consent yet)',
    send: (app, t) => request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${t}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'RESEARCH' }),
    expect: all(403, { 'patient (own)': 200, 'patient (other)': 404 }),
  },
  {
    name: 'GET /v1/patients/p1/access-trail',
    send: (app, t) => request(app.getHttpServer()).get('/v1/patients/p1/access-trail').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'patient (own)': 200, 'security-officer': 200, regulator: 200 }),
  },
  {
    name: 'GET /v1/patients/p1/disclosures',
    send: (app, t) => request(app.getHttpServer()).get('/v1/patients/p1/disclosures').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'patient (own)': 200, 'security-officer': 200, regulator: 200 }),
  },
  {
    name: 'GET /v1/audit/events',
    send: (app, t) => request(app.getHttpServer()).get('/v1/audit/events').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'security-officer': 200, regulator: 200 }),
  },
  {
    name: 'GET /v1/reviews/emergency-access',
    send: (app, t) => request(app.getHttpServer()).get('/v1/reviews/emergency-access').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'security-officer': 200 }),
  },
  {
    name: 'POST /v1/reviews/emergency-access/{unknown}',
    send: (app, t) => request(app.getHttpServer()).post('/v1/reviews/emergency-access/6c3f1c1e-0000-4000-8000-000000000000').set('authorization', `Bearer ${t}`).send({ verdict: 'justified', note: 'ok' }),
    expect: all(403, { 'security-officer': 404 }),
  },
  {
    name: 'PUT /v1/patients/p9/legal-hold',
    send: (app, t) => request(app.getHttpServer()).put('/v1/patients/p9/legal-hold').set('authorization', `Bearer ${t}`).send({ active: false, reference: 'case-1' }),
    expect: all(403, { 'security-officer': 200 }),
  },
  {
    name: 'POST /v1/patients/p9/erasure',
    send: (app, t) => request(app.getHttpServer()).post('/v1/patients/p9/erasure').set('authorization', `Bearer ${t}`).send({ reference: 'ticket-1' }),
    expect: all(403, { 'data-steward': 200, admin: 200 }),
  },
  {
    name: 'POST /v1/admin/keys/rotate (signing)',
    send: (app, t) => request(app.getHttpServer()).post('/v1/admin/keys/rotate').set('authorization', `Bearer ${t}`).send({ kind: 'signing' }),
    expect: all(403, { admin: 200 }),
  },
  {
    name: 'PUT /v1/datasets/ds-m',
    send: (app, t) => request(app.getHttpServer()).put('/v1/datasets/ds-m').set('authorization', `Bearer ${t}`).send({ purpose: 'AI_TRAINING', labels: ['nodule'], credentials: ['certified-radiologist'], minReviewers: 1 }),
    expect: all(403, { 'data-steward': 200 }),
  },
  {
    name: 'GET /v1/datasets/ds-none/quality',
    send: (app, t) => request(app.getHttpServer()).get('/v1/datasets/ds-none/quality').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'data-steward': 404, regulator: 404 }),
  },
  {
    // ds-1 (img-1's dataset) has no settings here: who may annotate gets that far.
    name: 'POST /v1/images/img-1/annotations',
    send: (app, t) => request(app.getHttpServer()).post('/v1/images/img-1/annotations').set('authorization', `Bearer ${t}`).send({ label: 'nodule', geometry: { type: 'bbox', x: 1, y: 1, width: 1, height: 1 }, confidence: 0.5 }),
    expect: all(403, { annotator: 409, reviewer: 409 }),
  },
  {
    name: 'POST /v1/annotations/{unknown}/reviews',
    send: (app, t) => request(app.getHttpServer()).post('/v1/annotations/00000000-0000-4000-8000-000000000000/reviews').set('authorization', `Bearer ${t}`).send({ verdict: 'approved' }),
    expect: all(403, { reviewer: 404 }),
  },
  {
    // A read of an unknown annotation is a decision like any (recorded): 404 for everyone.
    name: 'GET /v1/annotations/{unknown}',
    send: (app, t) => request(app.getHttpServer()).get('/v1/annotations/00000000-0000-4000-8000-000000000000').set('authorization', `Bearer ${t}`),
    expect: all(404),
  },
  {
    name: 'GET /v1/incidents',
    send: (app, t) => request(app.getHttpServer()).get('/v1/incidents').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'security-officer': 200 }),
  },
  {
    name: 'POST /v1/incidents',
    send: (app, t) => request(app.getHttpServer()).post('/v1/incidents').set('authorization', `Bearer ${t}`).send({ title: 'tip', severity: 'low', subject: { kind: 'actor', id: 'dr-1' } }),
    expect: all(403, { 'security-officer': 201 }),
  },
  {
    name: 'GET /v1/incidents/{unknown}/clocks',
    send: (app, t) => request(app.getHttpServer()).get('/v1/incidents/inc-unknown/clocks').set('authorization', `Bearer ${t}`),
    expect: all(403, { 'security-officer': 404 }),
  },
  {
    name: 'POST /v1/incidents/{unknown}/transitions',
    send: (app, t) => request(app.getHttpServer()).post('/v1/incidents/inc-unknown/transitions').set('authorization', `Bearer ${t}`).send({ to: 'TRIAGED', note: 'n' }),
    expect: all(403, { 'security-officer': 404 }),
  },
  {
    name: 'PUT /v1/patients/p1/profile',
    send: (app, t) => request(app.getHttpServer()).put('/v1/patients/p1/profile').set('authorization', `Bearer ${t}`).send({ familyName: 'Doe', address: '1 Main St', region: 'CA', country: 'US', euDataSubject: false, vip: false, employee: false }),
    expect: all(403, { 'data-steward': 200 }),
  },
  {
    name: 'PUT /v1/workforce/dr-1',
    send: (app, t) => request(app.getHttpServer()).put('/v1/workforce/dr-1').set('authorization', `Bearer ${t}`).send({ familyName: 'Roe', address: '2 Main St', department: 'Radiology', status: 'active', since: '2020-01-01' }),
    expect: all(403, { admin: 200 }),
  },
  {
    // Nobody edits reference data about themselves: the admin's own record is refused too (separation-of-duties, recorded).
    name: 'PUT /v1/workforce/adm-1 (the admin itself)',
    send: (app, t) => request(app.getHttpServer()).put('/v1/workforce/adm-1').set('authorization', `Bearer ${t}`).send({ familyName: 'Roe', address: '2 Main St', department: 'IT', status: 'active', since: '2020-01-01' }),
    expect: all(403),
  },
  {
    name: 'POST /v1/incidents/{unknown}/patients',
    send: (app, t) => request(app.getHttpServer()).post('/v1/incidents/inc-unknown/patients').set('authorization', `Bearer ${t}`).send({ patientIds: ['p1'], note: 'n' }),
    expect: all(403, { 'security-officer': 404 }),
  },
  {
    name: 'PUT /v1/incidents/{unknown}/discovery',
    send: (app, t) => request(app.getHttpServer()).put('/v1/incidents/inc-unknown/discovery').set('authorization', `Bearer ${t}`).send({ discoveredAt: '2026-01-01', note: 'n' }),
    expect: all(403, { 'security-officer': 404 }),
  },
];

describe('authorization matrix over HTTP (embedded)', () => {
  let app: INestApplication;
  const tokens = {} as Record<Who, string>;

  beforeAll(async () => {
    app = await bootEmbedded();
    for (const who of Object.keys(PRINCIPALS) as Who[]) tokens[who] = await devToken(app, { ...PRINCIPALS[who], roles: [...PRINCIPALS[who].roles] });
    await request(app.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${tokens['data-steward']}`).send(IMAGE('img-1', 'p1')).expect(201);
  });
  afterAll(async () => {
    await app.close();
  });

  const cases = ROUTES.flatMap((route) => (Object.keys(PRINCIPALS) as Who[]).map((who) => [route.name, who, route.expect[who], route] as const));

  it.each(cases)('%s as %s → %i', async (_name, who, status, route) => {
    const res = await route.send(app, tokens[who], who);
    expect(res.status).toBe(status);
    if (status >= 400) expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('recorded every refused route and every access decision as an event', async () => {
    const db = app.get(Database);
    const isDecision = (name: string) => name.startsWith('POST /v1/access-requests') || name.startsWith('GET /v1/images') || name.startsWith('GET /v1/annotations');
    const routeDenials = cases.filter(([name, , status]) => status === 403 && !isDecision(name)).length;
    const decisions = cases.filter(([name]) => isDecision(name)).length;
    const [denied] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM custos_events WHERE type = 'RouteAccessDenied'`);
    const [decided] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM custos_events WHERE type = 'AccessDecided'`);
    expect(Number(denied?.n)).toBe(routeDenials);
    expect(Number(decided?.n)).toBe(decisions);
  });

  it('refuses a request without a bearer token with 401 before anything else', async () => {
    await request(app.getHttpServer()).get('/v1/audit/events').expect(401);
    await request(app.getHttpServer()).post('/v1/access-requests').send({}).expect(401);
  });

  it('answers bad input with 400 problem+json, never a 500', async () => {
    const t = tokens.clinician;
    const post = (body: unknown) => request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${t}`).send(body as object);
    await post({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'FUN' }).expect(400);
    await post({ resourceType: 'image', resourceId: 'img 1;drop', action: 'view', purpose: 'TREATMENT' }).expect(400);
    await post({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', extra: 1 }).expect(400);
    await post({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', emergency: { reason: 'too short' } }).expect(400);
    await post({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', emergency: { reason: '\u200b'.repeat(21) } }).expect(400);
    await request(app.getHttpServer()).get('/v1/images/img-1').set('authorization', `Bearer ${t}`).expect(400); // purpose is required
    await request(app.getHttpServer()).get('/v1/images/img%201?purpose=TREATMENT').set('authorization', `Bearer ${t}`).expect(400);
    const sec = tokens['security-officer'];
    await request(app.getHttpServer()).get('/v1/audit/events?from=yesterday').set('authorization', `Bearer ${sec}`).expect(400);
    await request(app.getHttpServer()).get('/v1/audit/events?cursor=bm9wZQ').set('authorization', `Bearer ${sec}`).expect(400);
    await request(app.getHttpServer()).get('/v1/audit/events?limit=100000').set('authorization', `Bearer ${sec}`).expect(400);
    await request(app.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${tokens.admin}`).send(IMAGE('img-1', 'p1')).expect(409);
  });
});
