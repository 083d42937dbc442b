import type { INestApplication } from '@nestjs/common';
import { CONTEXTS } from '@custos/contexts';
import { Database, EventStore } from '@custos/event-store';
import { createLogger, loadConfig } from '@custos/platform';
import { createProcessApp, RelayProcess } from '@custos/runtime';
import { SentinelHost } from '@custos/sentinel';
import { createTestDatabase, type TestDatabase } from '@custos/testing';

/**
 * Distributed mode: the relay publishes to a real Kafka broker and the sentinel process is
 * woken by its own consumer group (its store poll set to a minute, so only Kafka can wake it
 * in time); it raises the case from the store.
 */
describe('apps/sentinel over PostgreSQL and Kafka', () => {
  let pg: TestDatabase;
  const apps: INestApplication[] = [];
  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
    await pg.drop();
  });

  it('wakes on the topics and records one incident for a snooper', async () => {
    const prefix = `sent${Date.now().toString(36)}.`;
    const env = { DATABASE_URL: pg.url, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', KAFKA_TOPIC_PREFIX: prefix, LOG_LEVEL: 'silent', SENTINEL_POLL_MS: '60000', SENTINEL_GROUP_ID: `${prefix}sentinel`, RELAY_POLL_MS: '20' };
    const config = loadConfig(env);
    const logger = createLogger('silent');
    const sentinel = await createProcessApp({ name: 'sentinel', contexts: CONTEXTS, providers: [SentinelHost] }, config, logger);
    apps.push(sentinel);
    await sentinel.init();
    const relay = await createProcessApp({ name: 'relay', contexts: CONTEXTS, providers: [RelayProcess] }, config, logger);
    apps.push(relay);
    await relay.init();
    // Let the consumer join before anything is published.
    await new Promise((r) => setTimeout(r, 3000));

    const store = sentinel.get(EventStore);
    const at = Date.now();
    for (let i = 0; i < 30; i++) {
      await store.append(`access-ks${i}`, [
        {
          type: 'AccessDecided',
          schemaVersion: 2,
          data: { resourceType: 'image', resourceId: `img-${i}`, action: 'view', purpose: 'TREATMENT', patientId: `ks${i}`, decision: 'PERMIT', rule: 'r', reason: 'x', emergency: false, consentVersion: 0, policyVersion: 'v' },
          metadata: { actor: { id: 'kafka-snoop', roles: ['clinician'] }, correlationId: 'k', patientId: `ks${i}` },
          occurredAt: new Date(at + i * 1000),
        },
      ], { expectedVersion: 'any' });
    }
    const db = sentinel.get(Database);
    const deadline = Date.now() + 40_000;
    let types: string[] = [];
    while (Date.now() < deadline) {
      types = (await db.query<{ type: string }>("SELECT type FROM custos_events WHERE type IN ('DetectionRaised', 'IncidentOpened') ORDER BY global_seq")).map((r) => r.type);
      if (types.length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(types).toEqual(['DetectionRaised', 'IncidentOpened']);
    expect(sentinel.get(SentinelHost).runner.counts.recorded).toBe(1);
  });
});
