import { randomUUID } from 'node:crypto';
import { CONTEXTS } from '@custos/contexts';
import { Database, readEventsAt, type StoredEvent } from '@custos/event-store';
import { createKafka, topicFor } from '@custos/messaging';
import { createLogger, loadConfig } from '@custos/platform';
import { createProcessApp, ProjectorProcess, RelayProcess } from '@custos/runtime';
import { createTestDatabase, deleteTopicsWithPrefix, type TestDatabase, TEST_KEK, uniquePrefix } from '@custos/testing';
import request from 'supertest';
import { boot, devToken, IMAGE } from './helpers.js';

/**
 * Issue 18, defect 11, as it was found: someone who can produce to the topics sends one
 * `AccessDecided` envelope copied from a real one, with the next free global sequence, an
 * invented patient and actor and a made-up hash. The projector must not let it take that
 * sequence's place: the real decision the gateway then records there is what the trail and
 * the audit search show, the invented patient's trail stays empty, and the projector raises
 * its integrity alarm (an event in the log, /health, a metric) once, and keeps projecting.
 */
describe('projector: a forged message on the topics (real Kafka, real PostgreSQL)', () => {
  let pg: TestDatabase;
  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(async () => {
    await pg.drop();
  });

  it('refuses it, projects the real event at its sequence, and raises the alarm once', async () => {
    const prefix = uniquePrefix();
    const env = {
      DATABASE_URL: pg.url,
      KEK: TEST_KEK,
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
      KAFKA_TOPIC_PREFIX: prefix,
      PROJECTOR_GROUP_ID: `${prefix}projector`,
      AUTH_DEV_ISSUER: 'true',
      LOG_LEVEL: 'silent',
      RELAY_POLL_MS: '10',
      KAFKA_TOPIC_PARTITIONS: '3',
    };
    const config = loadConfig(env);
    const logger = createLogger('silent');
    const gateway = await boot(config);
    const relay = await createProcessApp({ name: 'relay', contexts: CONTEXTS, providers: [RelayProcess] }, config, logger);
    const projector = await createProcessApp({ name: 'projector', contexts: CONTEXTS, providers: [ProjectorProcess] }, config, logger);
    await relay.init();
    await projector.init();
    const kafka = createKafka(config.kafka!, logger, 'attacker');
    const producer = kafka.producer();
    await producer.connect();
    const http = gateway.getHttpServer();
    const db = gateway.get(Database);
    const head = async () => Number((await db.query<{ s: string | null }>('SELECT max(global_seq) AS s FROM custos_events'))[0]?.s ?? -1);
    const projected = async () => Number((await db.query<{ p: string | null }>("SELECT position AS p FROM custos_projection_checkpoint WHERE projector = 'main'"))[0]?.p ?? -1);
    const settle = async (seq: number) => {
      for (const deadline = Date.now() + 30_000; (await projected()) < seq; ) {
        if (Date.now() > deadline) throw new Error(`projection did not reach ${seq}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    const view = { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' };
    try {
      const steward = await devToken(gateway, { sub: 'stew-1', roles: ['data-steward'] });
      const clinician = await devToken(gateway, { sub: 'dr-1', roles: ['clinician'] });
      const security = await devToken(gateway, { sub: 'sec-1', roles: ['security-officer'] });
      await request(http).post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-1', 'p1')).expect(201);
      const decisions: string[] = [];
      for (let i = 0; i < 5; i++) decisions.push(((await request(http).post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send(view).expect(200)).body as { eventId: string }).eventId);
      await settle(await head());

      // The forgery: a real envelope, moved one past the head, about someone else, by someone else.
      const [real] = await db.query<{ global_seq: string }>("SELECT global_seq FROM custos_events WHERE type = 'AccessDecided' ORDER BY global_seq DESC LIMIT 1");
      const [template] = (await readEventsAt(db, [Number(real!.global_seq)])) as Array<StoredEvent<'AccessDecided', Record<string, unknown>>>;
      const target = (await head()) + 1;
      const forged = {
        ...template!,
        eventId: randomUUID(),
        globalSeq: target,
        data: { ...template!.data, patientId: 'p-invented' },
        metadata: { ...template!.metadata, actor: { id: 'ghost-1', roles: ['clinician'] }, patientId: 'p-invented' },
        hash: 'f'.repeat(64),
      };
      await producer.send({ topic: topicFor('access-', prefix), acks: -1, messages: [{ key: 'p-invented', value: JSON.stringify(forged) }] });
      // Before this fix the projector took it within this second (and skipped the real one below).
      await new Promise((r) => setTimeout(r, 1000));

      // The real decision the gateway records next lands on the sequence the forgery claimed.
      const sixth = (await request(http).post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send(view).expect(200)).body as { eventId: string; sequence: number };
      expect(sixth.sequence).toBe(target);
      decisions.push(sixth.eventId);
      await settle(target);

      // What the security team sees is the log: the real access in p1's trail and in the audit search, nothing for the invented patient.
      const trail = await request(http).get('/v1/patients/p1/access-trail?limit=100').set('authorization', `Bearer ${security}`).expect(200);
      expect(Number(trail.headers['x-custos-projected-seq'])).toBeGreaterThanOrEqual(target);
      const p1Accesses = (trail.body.items as Array<{ eventId: string; sequence: number; resourceType: string }>).filter((i) => i.resourceType === 'image');
      expect(p1Accesses.map((i) => i.eventId).sort()).toEqual([...decisions].sort());
      expect(p1Accesses.find((i) => i.sequence === target)?.eventId).toBe(sixth.eventId);
      const audit = await request(http).get('/v1/audit/events?actorId=dr-1&limit=1000').set('authorization', `Bearer ${security}`).expect(200);
      expect((audit.body.items as Array<{ eventId: string }>).map((i) => i.eventId).sort()).toEqual([...decisions].sort());
      const invented = await request(http).get('/v1/patients/p-invented/access-trail?limit=100').set('authorization', `Bearer ${security}`).expect(200);
      expect(invented.body.items).toEqual([]);
      const ghost = await request(http).get('/v1/audit/events?actorId=ghost-1&limit=1000').set('authorization', `Bearer ${security}`).expect(200);
      expect(ghost.body.items).toEqual([]);

      // The alarm: one event in the log (nothing personal in it), /health degraded naming it, a metric.
      const alarms = await db.query<{ data: Record<string, unknown>; metadata: Record<string, unknown> }>("SELECT data, metadata FROM custos_events WHERE type = 'ProjectionIntegrityAlarm'");
      expect(alarms).toHaveLength(1);
      expect(alarms[0]!.data).toMatchObject({ globalSeq: target, claimedHash: 'f'.repeat(64), consumer: 'projector' });
      expect(['mismatch', 'not-in-store']).toContain(alarms[0]!.data.reason);
      expect(JSON.stringify(alarms[0])).not.toMatch(/p-invented|ghost-1/);
      const health = await request(projector.getHttpServer()).get('/health').expect(200);
      expect(health.body.status).toBe('degraded');
      expect(JSON.stringify(health.body.alarms['projection-integrity'])).toContain(`sequence ${target}`);
      const metrics = await request(projector.getHttpServer()).get('/metrics').expect(200);
      expect(metrics.text).toMatch(/custos_projection_integrity_refusals_total\{consumer="projector",reason="(mismatch|not-in-store)"\} 1\n/);

      // The same message again, and the alarm's own event through the relay: no second alarm, no loop.
      await producer.send({ topic: topicFor('access-', prefix), acks: -1, messages: [{ key: 'p-invented', value: JSON.stringify(forged) }] });
      await new Promise((r) => setTimeout(r, 3000));
      await settle(await head());
      expect(await db.query("SELECT 1 FROM custos_events WHERE type = 'ProjectionIntegrityAlarm'")).toHaveLength(1);

      // Bytes that are not even JSON: refused as malformed, one more alarm.
      await producer.send({ topic: topicFor('access-', prefix), acks: -1, messages: [{ key: 'x', value: 'not an envelope {' }] });
      for (const deadline = Date.now() + 20_000; (await db.query("SELECT 1 FROM custos_events WHERE type = 'ProjectionIntegrityAlarm'")).length < 2; ) {
        if (Date.now() > deadline) throw new Error('no alarm for a message that is not JSON');
        await new Promise((r) => setTimeout(r, 100));
      }
      const reasons = await db.query<{ reason: string }>("SELECT data->>'reason' AS reason FROM custos_events WHERE type = 'ProjectionIntegrityAlarm' ORDER BY global_seq");
      expect(reasons[1]).toEqual({ reason: 'malformed' });

      // And the projector kept going: a later decision is projected too.
      const seventh = (await request(http).post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send(view).expect(200)).body as { eventId: string; sequence: number };
      await settle(seventh.sequence);
    } finally {
      await producer.disconnect();
      await gateway.close();
      await relay.close();
      await projector.close();
      await deleteTopicsWithPrefix(config.kafka!.brokers, prefix);
    }
  });
});

