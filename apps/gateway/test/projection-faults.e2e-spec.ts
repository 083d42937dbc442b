import { CONTEXTS } from '@custos/contexts';
import { Database, EventStore } from '@custos/event-store';
import { createLogger, loadConfig } from '@custos/platform';
import { createProcessApp, ProjectorProcess, RelayProcess } from '@custos/runtime';
import { createTestDatabase, deleteTopicsWithPrefix, TEST_KEK, testEvent, uniquePrefix } from '@custos/testing';
import request from 'supertest';
import { boot, bootEmbedded, devToken, getProjected, IMAGE } from './helpers.js';

/** An incident without a subject: custos_rm_incidents.subject_kind is NOT NULL. */
const POISON = testEvent('IncidentOpened', { incidentId: 'inc-poison', severity: 'low', subject: {}, rules: [], patientIds: [], detectionIds: [], openedAt: '2026-01-01T00:00:00.000Z', discoveredAt: '2026-01-01T00:00:00.000Z' });

function faultsCounted(metrics: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith('custos_projection_faults_total{projector="main",projection="incidents"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * A projection is a guest: an event one projection cannot apply (planted here straight
 * through the store, as any transport could have stored it) is quarantined for that
 * projection alone, and every view goes on.
 */
describe('one poison event never stops the views', () => {
  it('embedded (PGlite): quarantines it for the incidents projection; trails and the review queue keep advancing; /health and /metrics name it', async () => {
    const app = await bootEmbedded();
    try {
      const http = () => request(app.getHttpServer());
      const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
      const dr = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
      const sec = await devToken(app, { sub: 'sec-1', roles: ['security-officer'] });
      await http().post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-1', 'p1')).expect(201);
      await http().get('/health').expect(200);

      // An incident without a subject: custos_rm_incidents.subject_kind is NOT NULL.
      const store = app.get(EventStore);
      const metricsBefore = faultsCounted((await http().get('/metrics').expect(200)).text);
      const {
        events: [poison],
      } = await store.append('incident-inc-poison', [POISON], { expectedVersion: 'no-stream' });
      const poisonSeq = poison!.globalSeq;

      // Later accesses, two of them breaking the glass.
      const ask = (emergency: boolean) =>
        http()
          .post('/v1/access-requests')
          .set('authorization', `Bearer ${dr}`)
          .send({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: emergency ? 'RESEARCH' : 'TREATMENT', ...(emergency ? { emergency: { reason: 'unconscious patient, prior imaging needed now' } } : {}) })
          .expect(200);
      const later = [await ask(false), await ask(true), await ask(true)].map((r) => (r.body as { eventId: string }).eventId);
      const { lastSeq } = await store.head();
      expect(lastSeq).toBeGreaterThan(poisonSeq);

      // The trail's projected sequence moves past the poison event and shows the later accesses.
      const trail = await getProjected(app, sec, '/v1/patients/p1/access-trail', lastSeq, 20_000);
      const trailIds = JSON.stringify(trail.body);
      for (const id of later) expect(trailIds).toContain(id);
      const queue = await http().get('/v1/reviews/emergency-access').set('authorization', `Bearer ${sec}`).expect(200);
      expect((queue.body as { total: number }).total).toBe(2);

      // The incidents view lacks only the poison event: it is recorded, and said so.
      const db = app.get(Database);
      const faults = await db.query<{ projection: string; global_seq: number | string; event_type: string; code: string }>('SELECT projection, global_seq, event_type, code FROM custos_projection_faults');
      expect(faults.map((f) => [f.projection, Number(f.global_seq), f.event_type, f.code])).toEqual([['incidents', poisonSeq, 'IncidentOpened', '23502']]);
      const health = await http().get('/health').expect(200);
      expect(health.body.status).toBe('degraded');
      expect(JSON.stringify(health.body)).toContain(`incidents (1 event, first at global sequence ${poisonSeq})`);
      const metrics = await http().get('/metrics').expect(200);
      expect(faultsCounted(metrics.text)).toBe(metricsBefore + 1);

      // Incidents opened afterwards are still listed.
      const opened = await http().post('/v1/incidents').set('authorization', `Bearer ${sec}`).send({ title: 'after the poison', severity: 'low', subject: { kind: 'actor', id: 'dr-1' } }).expect(201);
      const { lastSeq: after } = await store.head();
      await getProjected(app, sec, '/v1/patients/p1/access-trail?limit=1', after, 20_000); // one runner moves every read model
      const list = await http().get('/v1/incidents').set('authorization', `Bearer ${sec}`).expect(200);
      expect(JSON.stringify(list.body)).toContain((opened.body as { incidentId: string }).incidentId);
      expect(JSON.stringify(list.body)).not.toContain('inc-poison');
    } finally {
      await app.close();
    }
  });

  it('in distributed mode (PostgreSQL, relay, Kafka, projector): the projector quarantines it and goes on; its /health names it', async () => {
    const pg = await createTestDatabase();
    const prefix = uniquePrefix();
    const env = { DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', KAFKA_TOPIC_PREFIX: prefix, PROJECTOR_GROUP_ID: `${prefix}projector`, AUTH_DEV_ISSUER: 'true', LOG_LEVEL: 'silent', RELAY_POLL_MS: '10', KAFKA_TOPIC_PARTITIONS: '3' };
    const config = loadConfig(env);
    const gateway = await boot(config);
    const relay = await createProcessApp({ name: 'relay', contexts: CONTEXTS, providers: [RelayProcess] }, config, createLogger('silent'));
    const projector = await createProcessApp({ name: 'projector', contexts: CONTEXTS, providers: [ProjectorProcess] }, config, createLogger('silent'));
    await relay.init();
    await projector.init();
    try {
      const http = () => request(gateway.getHttpServer());
      const steward = await devToken(gateway, { sub: 'stew-1', roles: ['data-steward'] });
      const dr = await devToken(gateway, { sub: 'dr-1', roles: ['clinician'] });
      const sec = await devToken(gateway, { sub: 'sec-1', roles: ['security-officer'] });
      await http().post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-1', 'p1')).expect(201);
      const store = gateway.get(EventStore);
      const {
        events: [poison],
      } = await store.append('incident-inc-poison', [POISON], { expectedVersion: 'no-stream' });
      const later: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await http().post('/v1/access-requests').set('authorization', `Bearer ${dr}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }).expect(200);
        later.push((r.body as { eventId: string }).eventId);
      }
      const { lastSeq } = await store.head();
      const trail = await getProjected(gateway, sec, '/v1/patients/p1/access-trail', lastSeq, 60_000);
      for (const id of later) expect(JSON.stringify(trail.body)).toContain(id);
      const faults = await gateway.get(Database).query<{ projection: string; global_seq: number | string }>('SELECT projection, global_seq FROM custos_projection_faults');
      expect(faults.map((f) => [f.projection, Number(f.global_seq)])).toEqual([['incidents', poison!.globalSeq]]);
      const health = await request(projector.getHttpServer()).get('/health').expect(200);
      expect(health.body.status).toBe('degraded');
      expect(JSON.stringify(health.body)).toContain(`incidents (1 event, first at global sequence ${poison!.globalSeq})`);
    } finally {
      await gateway.close();
      await relay.close();
      await projector.close();
      await deleteTopicsWithPrefix(config.kafka!.brokers, prefix);
      await pg.drop();
    }
  });
});
