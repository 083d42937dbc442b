import type { INestApplication } from '@nestjs/common';
import { Database } from '@custos/event-store';
import { loadConfig } from '@custos/platform';
import { createTestDatabase, TEST_KEK, principals } from '@custos/testing';
import jose from 'node-jose';
import request from 'supertest';
import { boot, bootEmbedded, IMAGE, tokenFor, waitForProjection } from './helpers.js';

async function setup(app: INestApplication) {
  const t = {
    patient: await tokenFor(app, principals.patient()),
    other: await tokenFor(app, principals.patient({ sub: 'pat-2', patientId: 'p2' })),
    steward: await tokenFor(app, principals.steward()),
    researcher: await tokenFor(app, principals.researcher()),
    clinician: await tokenFor(app, principals.clinician()),
    security: await tokenFor(app, principals.securityOfficer({ sub: 'sec-1' })),
  };
  await request(app.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${t.steward}`).send(IMAGE('img-1', 'p1')).expect(201);
  return t;
}

const put = (app: INestApplication, token: string, patientId: string, purpose: string, body: object, ifMatch?: string) => {
  const r = request(app.getHttpServer()).put(`/v1/patients/${patientId}/consents/${purpose}`).set('authorization', `Bearer ${token}`);
  return (ifMatch ? r.set('if-match', ifMatch) : r).send(body);
};
const del = (app: INestApplication, token: string, patientId: string, purpose: string, body: object = {}) =>
  request(app.getHttpServer()).delete(`/v1/patients/${patientId}/consents/${purpose}`).set('authorization', `Bearer ${token}`).send(body);
const ask = (app: INestApplication, token: string, purpose = 'AI_TRAINING') =>
  request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${token}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose });

/** Grant, withdraw, and at once ask as the researcher, `rounds` times; returns how many were denied. */
async function withdrawThenRequest(app: INestApplication, t: { patient: string; researcher: string }, rounds: number): Promise<number> {
  let denies = 0;
  for (let i = 0; i < rounds; i++) {
    await put(app, t.patient, 'p1', 'AI_TRAINING', { status: 'granted' }).expect(200);
    await del(app, t.patient, 'p1', 'AI_TRAINING').expect(200);
    const res = await ask(app, t.researcher);
    if (res.status === 403 && res.body.decision === 'DENY') denies += 1;
  }
  return denies;
}

async function verifyReceipt(app: INestApplication, receipt: string): Promise<Record<string, unknown>> {
  const jwks = await request(app.getHttpServer()).get('/.well-known/jwks.json').expect(200);
  const keystore = await jose.JWK.asKeyStore(jwks.body);
  const verified = await jose.JWS.createVerify(keystore, { algorithms: ['ES256'] }).verify(receipt);
  return JSON.parse(verified.payload.toString('utf8')) as Record<string, unknown>;
}

describe('consent over HTTP (embedded)', () => {
  let app: INestApplication;
  let t: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    app = await bootEmbedded();
    t = await setup(app);
  });
  afterAll(async () => {
    await app.close();
  });

  it('a patient grants, the researcher is permitted with that consent version, a withdrawal denies the very next request', async () => {
    await ask(app, t.researcher).expect(403);
    const granted = await put(app, t.patient, 'p1', 'AI_TRAINING', { status: 'granted', categories: ['IMAGING'], recipients: [{ type: 'dataset', id: 'ds-1' }] }).expect(200);
    expect(granted.body).toMatchObject({ version: 1 });
    expect(granted.headers.etag).toBe('"1"');
    const permitted = await ask(app, t.researcher).expect(200);
    expect(permitted.body).toMatchObject({ decision: 'PERMIT', rule: 'researcher-with-consent', consentVersion: 1 });
    await ask(app, t.researcher, 'RESEARCH').expect(403); // another purpose
    const withdrawn = await del(app, t.patient, 'p1', 'AI_TRAINING').expect(200);
    expect(withdrawn.body.version).toBe(2);
    const denied = await ask(app, t.researcher).expect(403);
    expect(denied.body).toMatchObject({ decision: 'DENY', rule: 'consent-not-granted', consentVersion: 2 });
    await del(app, t.patient, 'p1', 'AI_TRAINING').expect(404); // nothing left to withdraw

    // which consent authorized that read? the trail says
    await waitForProjection(app, t.security, 'p1', denied.body.sequence);
    const trail = await request(app.getHttpServer()).get('/v1/patients/p1/access-trail').set('authorization', `Bearer ${t.patient}`).expect(200);
    expect(trail.body.items.find((i: { eventId: string }) => i.eventId === permitted.body.eventId)).toMatchObject({ consentVersion: 1, decision: 'PERMIT' });

    // datasets whose patients withdrew AI_TRAINING after their images entered
    const withdrawals = await request(app.getHttpServer()).get('/v1/datasets/ds-1/consent-withdrawals').set('authorization', `Bearer ${t.steward}`).expect(200);
    expect(withdrawals.body.items).toEqual([expect.objectContaining({ patientId: 'p1', images: ['img-1'] })]);
    await request(app.getHttpServer()).get('/v1/datasets/ds-1/consent-withdrawals').set('authorization', `Bearer ${t.researcher}`).expect(403);
  });

  it('answers each change with a receipt anyone can verify offline against the JWKS, and issues it again by version', async () => {
    const res = await put(app, t.patient, 'p1', 'RESEARCH', { status: 'granted', categories: ['IMAGING', 'ANNOTATIONS'], expiresAt: '2099-01-01T00:00:00Z', recipients: [{ type: 'organization', id: 'univ-a' }] }).expect(200);
    const claims = await verifyReceipt(app, res.body.receipt);
    expect(claims).toMatchObject({
      iss: 'custos',
      jti: res.body.eventId,
      sub: 'p1',
      piiPrincipalId: 'p1',
      version: res.body.version,
      purpose: 'RESEARCH',
      status: 'granted',
      categories: ['IMAGING', 'ANNOTATIONS'],
      expiresAt: '2099-01-01T00:00:00.000Z',
      recipients: [{ type: 'organization', id: 'univ-a' }],
      collectionMethod: 'patient-portal',
    });
    expect(typeof claims.iat).toBe('number');
    const again = await request(app.getHttpServer()).get(`/v1/patients/p1/consents/receipts/${res.body.version}`).set('authorization', `Bearer ${t.patient}`).expect(200);
    expect(await verifyReceipt(app, again.body.receipt)).toEqual(claims);
    await request(app.getHttpServer()).get('/v1/patients/p1/consents/receipts/999').set('authorization', `Bearer ${t.patient}`).expect(404);
    await request(app.getHttpServer()).get('/v1/patients/p1/consents/receipts/abc').set('authorization', `Bearer ${t.patient}`).expect(400);
    // a tampered receipt does not verify
    const [h, p, s] = (res.body.receipt as string).split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, status: 'denied' })).toString('base64url')}.${s}`;
    await expect(verifyReceipt(app, forged)).rejects.toThrow();
    expect(p).toBeTruthy();
  });

  it('lets only the patient (portal) and a data steward (paper, with evidence) change consent', async () => {
    await put(app, t.other, 'p1', 'PUBLIC_HEALTH', { status: 'granted' }).expect(403);
    await put(app, t.clinician, 'p1', 'PUBLIC_HEALTH', { status: 'granted' }).expect(403);
    await put(app, t.researcher, 'p1', 'PUBLIC_HEALTH', { status: 'granted' }).expect(403);
    await put(app, t.security, 'p1', 'PUBLIC_HEALTH', { status: 'granted' }).expect(403);
    await put(app, t.steward, 'p1', 'PUBLIC_HEALTH', { status: 'granted' }).expect(400);
    const paper = await put(app, t.steward, 'p1', 'PUBLIC_HEALTH', { status: 'granted', capturedBy: 'nurse-7', evidenceRef: 'scan://forms/2026/0042' }).expect(200);
    expect((await verifyReceipt(app, paper.body.receipt)).collectionMethod).toBe('paper');
    const denied = await app.get(Database).query<{ n: number | string }>(`SELECT count(*) AS n FROM custos_events WHERE type = 'RouteAccessDenied' AND stream_id = 'access-p1' AND data->>'subject' = 'Consent'`);
    expect(Number(denied[0]?.n)).toBe(4); // every refusal recorded

    const history = await request(app.getHttpServer()).get('/v1/patients/p1/consents/history').set('authorization', `Bearer ${t.patient}`).expect(200);
    const last = history.body.items[history.body.items.length - 1];
    expect(last).toMatchObject({ purpose: 'PUBLIC_HEALTH', change: 'granted', channel: 'paper', capturedBy: 'nurse-7', evidenceRef: 'scan://forms/2026/0042', by: { id: 'stew-1' } });
    expect(history.body.items.map((i: { version: number }) => i.version)).toEqual(history.body.items.map((_: unknown, i: number) => i + 1));
    await request(app.getHttpServer()).get('/v1/patients/p1/consents/history').set('authorization', `Bearer ${t.other}`).expect(403);
    await request(app.getHttpServer()).get('/v1/patients/p1/consents').set('authorization', `Bearer ${t.security}`).expect(200);
  });

  it('never loses an update: a stale If-Match and racing writers get 409 with the current version', async () => {
    const current = await request(app.getHttpServer()).get('/v1/patients/p1/consents').set('authorization', `Bearer ${t.patient}`).expect(200);
    const v = current.body.version as number;
    await put(app, t.patient, 'p1', 'OPERATIONS', { status: 'denied' }, `"${v - 1}"`).expect(409);
    const racers = await Promise.all([1, 2, 3, 4, 5].map((i) => put(app, t.patient, 'p1', 'OPERATIONS', { status: i % 2 ? 'denied' : 'granted' }, `"${v}"`)));
    expect(racers.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of racers.filter((x) => x.status !== 200)) expect(r.body).toMatchObject({ status: 409, code: 'concurrency-conflict', currentVersion: v + 1 });
  });

  it('shows the current consent per purpose, and as FHIR Consent resources', async () => {
    const res = await request(app.getHttpServer()).get('/v1/patients/p1/consents').set('authorization', `Bearer ${t.patient}`).expect(200);
    expect(res.body.purposes).toHaveLength(5);
    expect(res.body.purposes.find((p: { purpose: string }) => p.purpose === 'TREATMENT')).toMatchObject({ status: 'granted', source: 'default', version: 0 });
    expect(res.body.purposes.find((p: { purpose: string }) => p.purpose === 'RESEARCH')).toMatchObject({ status: 'granted', source: 'explicit', categories: ['IMAGING', 'ANNOTATIONS'] });
    const fhir = await request(app.getHttpServer()).get('/v1/patients/p1/consents?format=fhir').set('authorization', `Bearer ${t.patient}`).expect(200);
    const bundle = JSON.parse(fhir.text);
    expect(bundle.resourceType).toBe('Bundle');
    const research = bundle.entry.map((e: { resource: Record<string, unknown> }) => e.resource).find((r: { identifier: Array<{ value: string }> }) => r.identifier[0]?.value === 'p1/RESEARCH');
    expect(research).toMatchObject({
      resourceType: 'Consent',
      status: 'active',
      patient: { identifier: { value: 'p1' } },
      provision: {
        type: 'permit',
        period: { end: '2099-01-01T00:00:00.000Z' },
        purpose: [{ code: 'HRESCH' }],
        class: [{ code: 'IMAGING' }, { code: 'ANNOTATIONS' }],
        actor: [{ reference: { type: 'Organization', identifier: { system: 'https://custos.dev/fhir/recipient/organization', value: 'univ-a' } } }],
      },
    });
  });

  it('answers bad input with 400', async () => {
    await put(app, t.patient, 'p1', 'FUN', { status: 'granted' }).expect(400);
    await put(app, t.patient, 'p1', 'RESEARCH', { status: 'maybe' }).expect(400);
    await put(app, t.patient, 'p1', 'RESEARCH', { status: 'granted', categories: ['GENOMES'] }).expect(400);
    // An empty list is not a list left out (which means every category): refused with its own code, nothing recorded.
    const before = await request(app.getHttpServer()).get('/v1/patients/p1/consents/history').set('authorization', `Bearer ${t.patient}`).expect(200);
    for (const status of ['granted', 'denied']) {
      const empty = await put(app, t.patient, 'p1', 'AI_TRAINING', { status, categories: [] }).expect(400);
      expect(empty.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(empty.body).toMatchObject({ code: 'bad-categories' });
    }
    const after = await request(app.getHttpServer()).get('/v1/patients/p1/consents/history').set('authorization', `Bearer ${t.patient}`).expect(200);
    expect(after.body).toEqual(before.body);
    await put(app, t.patient, 'p1', 'RESEARCH', { status: 'granted', expiresAt: '2020-01-01T00:00:00Z' }).expect(400);
    await put(app, t.patient, 'p1', 'RESEARCH', { status: 'granted', expiresAt: 'soon' }).expect(400);
    await put(app, t.patient, 'p1', 'RESEARCH', { status: 'granted' }, 'W/"x"').expect(400);
  });

  it('withdraw then request, 100 times in a row: 100 DENY', async () => {
    expect(await withdrawThenRequest(app, t, 100)).toBe(100);
  });
});

describe('consent race in distributed mode (PostgreSQL + Kafka)', () => {
  it('withdraw then request, 100 times in a row: 100 DENY', async () => {
    const pg = await createTestDatabase();
    const app = await boot(loadConfig({ DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', AUTH_DEV_ISSUER: 'true', LOG_LEVEL: 'silent' }));
    try {
      const t = await setup(app);
      expect(await withdrawThenRequest(app, t, 100)).toBe(100);
    } finally {
      await app.close();
      await pg.drop();
    }
  });
});
