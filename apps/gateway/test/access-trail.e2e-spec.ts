import { CONTEXTS } from '@custos/contexts';
import type { INestApplication } from '@nestjs/common';
import { createLogger, loadConfig } from '@custos/platform';
import { createProcessApp, ProjectorProcess, RelayProcess } from '@custos/runtime';
import { createTestDatabase, deleteTopicsWithPrefix, type TestDatabase, uniquePrefix, TEST_KEK, principals } from '@custos/testing';
import request from 'supertest';
import { boot, bootEmbedded, IMAGE, tokenFor, waitForProjection } from './helpers.js';

interface Decision {
  eventId: string;
  sequence: number;
  decision: string;
}

/** Makes a mix of decisions about p1 and returns them as the API answered. */
async function decide(app: INestApplication, tokens: Record<string, string>, n: number): Promise<Decision[]> {
  const out: Decision[] = [];
  const kinds = [
    { t: tokens.clinician, body: { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' } },
    { t: tokens.researcher, body: { resourceType: 'image', resourceId: 'img-1', action: 'download', purpose: 'AI_TRAINING' } },
    { t: tokens.clinician, body: { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'RESEARCH', emergency: { reason: 'unconscious patient, prior imaging needed now' } } },
    { t: tokens.steward, body: { resourceType: 'patient-record', resourceId: 'p1', action: 'export', purpose: 'OPERATIONS' } },
  ];
  for (let i = 0; i < n; i++) {
    const k = kinds[i % kinds.length]!;
    const res = await request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${k.t}`).send(k.body);
    expect([200, 403]).toContain(res.status);
    out.push(res.body as Decision);
  }
  return out;
}

async function readWholeTrail(app: INestApplication, token: string): Promise<Array<{ eventId: string; sequence: number; rule: string; resourceType: string }>> {
  const items: Array<{ eventId: string; sequence: number; rule: string; resourceType: string }> = [];
  let cursor: string | null = null;
  do {
    const res: request.Response = await request(app.getHttpServer())
      .get(`/v1/patients/p1/access-trail?limit=7${cursor ? `&cursor=${cursor}` : ''}`)
      .set('authorization', `Bearer ${token}`)
      .expect(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
  } while (cursor);
  return items;
}

async function tokensFor(app: INestApplication): Promise<Record<string, string>> {
  return {
    clinician: await tokenFor(app, principals.clinician()),
    researcher: await tokenFor(app, principals.researcher()),
    steward: await tokenFor(app, principals.steward()),
    security: await tokenFor(app, principals.securityOfficer({ sub: 'sec-1' })),
    patient: await tokenFor(app, principals.patient()),
  };
}

async function checkTrail(app: INestApplication, tokens: Record<string, string>, decisions: Decision[]): Promise<void> {
  const last = Math.max(...decisions.map((d) => d.sequence));
  await waitForProjection(app, tokens.security!, 'p1', last);
  const trail = await readWholeTrail(app, tokens.patient!);
  const decided = trail.filter((i) => ['image', 'patient-record', 'annotation'].includes(i.resourceType)); // reads of the trail itself are in it too
  expect(decided.map((i) => i.eventId).sort()).toEqual(decisions.map((d) => d.eventId).sort()); // each exactly once
  expect(new Set(trail.map((i) => i.eventId)).size).toBe(trail.length);
  expect(trail.map((i) => i.sequence)).toEqual([...trail.map((i) => i.sequence)].sort((a, b) => a - b)); // oldest first
}

describe('every decision appears in the trail exactly once', () => {
  it('in embedded mode (projections in process)', async () => {
    const app = await bootEmbedded();
    try {
      const tokens = await tokensFor(app);
      await request(app.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${tokens.steward}`).send(IMAGE('img-1', 'p1')).expect(201);
      const decisions = await decide(app, tokens, 40);
      await checkTrail(app, tokens, decisions);

      // The emergency accesses wait in the review queue until a security officer closes them.
      const emergencies = decisions.filter((d) => (d as unknown as { emergency: boolean }).emergency);
      const queue = await request(app.getHttpServer()).get('/v1/reviews/emergency-access').set('authorization', `Bearer ${tokens.security}`).expect(200);
      expect(queue.body.items.map((i: { eventId: string }) => i.eventId).sort()).toEqual(emergencies.map((d) => d.eventId).sort());
      const first = emergencies[0]!;
      const closed = await request(app.getHttpServer()).post(`/v1/reviews/emergency-access/${first.eventId}`).set('authorization', `Bearer ${tokens.security}`).send({ verdict: 'justified', note: 'ER admission confirmed' }).expect(200);
      await request(app.getHttpServer()).post(`/v1/reviews/emergency-access/${first.eventId}`).set('authorization', `Bearer ${tokens.security}`).send({ verdict: 'unjustified', note: 'again' }).expect(409);
      await request(app.getHttpServer()).post(`/v1/reviews/emergency-access/${decisions[0]!.eventId}`).set('authorization', `Bearer ${tokens.security}`).send({ verdict: 'justified', note: '' }).expect(400);
      await waitForProjection(app, tokens.security!, 'p1', closed.body.sequence);
      const open = await request(app.getHttpServer()).get('/v1/reviews/emergency-access').set('authorization', `Bearer ${tokens.security}`).expect(200);
      expect(open.body.items).toHaveLength(emergencies.length - 1);

      // Accounting of disclosures: permitted, not TREATMENT or OPERATIONS (here: the emergencies).
      const disclosures = await request(app.getHttpServer()).get('/v1/patients/p1/disclosures').set('authorization', `Bearer ${tokens.patient}`).expect(200);
      expect(disclosures.body.items.map((i: { eventId: string }) => i.eventId).sort()).toEqual(emergencies.map((d) => d.eventId).sort());

      // Breach investigation: what did dr-1 touch?
      const audit = await request(app.getHttpServer()).get('/v1/audit/events?actorId=dr-1&limit=1000').set('authorization', `Bearer ${tokens.security}`).expect(200);
      expect(audit.body.items).toHaveLength(20);

      // FHIR: a Bundle of AuditEvent, by query and by Accept.
      const fhir = await request(app.getHttpServer()).get('/v1/patients/p1/access-trail?limit=5').set('authorization', `Bearer ${tokens.security}`).set('accept', 'application/fhir+json').expect(200);
      expect(fhir.headers['content-type']).toMatch(/^application\/fhir\+json/);
      const body = JSON.parse(fhir.text);
      expect(body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 5 });
      expect(body.entry[0].resource).toMatchObject({
        resourceType: 'AuditEvent',
        type: { code: 'rest' },
        action: 'R',
        outcome: '0',
        agent: [{ requestor: true, who: { identifier: { value: 'dr-1' } } }],
        entity: [{ what: { identifier: { value: 'p1' } } }, { what: { identifier: { value: 'img-1' } } }],
      });
      expect(body.link[0].url).toContain('cursor=');
    } finally {
      await app.close();
    }
  });

  describe('in distributed mode (relay → real Kafka → projector)', () => {
    let pg: TestDatabase;
    beforeAll(async () => {
      pg = await createTestDatabase();
    });
    afterAll(async () => {
      await pg.drop();
    });

    it('projects every decision once through Kafka', async () => {
      const prefix = uniquePrefix();
      const env = { DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', KAFKA_TOPIC_PREFIX: prefix, PROJECTOR_GROUP_ID: `${prefix}projector`, AUTH_DEV_ISSUER: 'true', LOG_LEVEL: 'silent', RELAY_POLL_MS: '10', KAFKA_TOPIC_PARTITIONS: '3' };
      const config = loadConfig(env);
      const gateway = await boot(config);
      const relay = await createProcessApp({ name: 'relay', contexts: CONTEXTS, providers: [RelayProcess] }, config, createLogger('silent'));
      const projector = await createProcessApp({ name: 'projector', contexts: CONTEXTS, providers: [ProjectorProcess] }, config, createLogger('silent'));
      await relay.init();
      await projector.init();
      try {
        const tokens = await tokensFor(gateway);
        await request(gateway.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${tokens.steward}`).send(IMAGE('img-1', 'p1')).expect(201);
        const decisions = await decide(gateway, tokens, 40);
        await checkTrail(gateway, tokens, decisions);
      } finally {
        await gateway.close();
        await relay.close();
        await projector.close();
        await deleteTopicsWithPrefix(config.kafka!.brokers, prefix);
      }
    });
  });
});
