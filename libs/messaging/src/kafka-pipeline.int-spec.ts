import type { Sql, StoredEvent } from '@custos/event-store';
import { createLogger, type KafkaConfig } from '@custos/platform';
import { type Projection, ProjectionRunner, StreamCatalogueProjection } from '@custos/projections';
import { deleteTopicsWithPrefix, openTestStore, PrivateBroker, snapshotTables, testEvent, testKafkaConfig, type TestStore } from '@custos/testing';
import type { Kafka } from 'kafkajs';
import { createKafka, ensureTopics, KafkaEventFeed, OutboxRelay, StoreConfirmation, topicFor } from './index.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const logger = createLogger('silent');

class ApplicationLog implements Projection {
  readonly name = 'application-log';
  readonly tables = ['test_applications'];
  async apply(sql: Sql, e: StoredEvent): Promise<void> {
    await sql.execute('INSERT INTO test_applications (global_seq) VALUES ($1)', [e.globalSeq]);
  }
}

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Pipeline {
  t: TestStore;
  kafka: Kafka;
  relay: OutboxRelay;
  feed: KafkaEventFeed;
  runner: ProjectionRunner;
  /** What the projector does with a batch: the store's copies of what it confirms, applied. */
  project(messages: unknown[]): Promise<void>;
  stop(): Promise<void>;
}

async function pipeline(config: KafkaConfig): Promise<Pipeline> {
  const t = await openTestStore('postgres', ALL_MIGRATIONS);
  await t.db.execute('CREATE TABLE test_applications (global_seq bigint NOT NULL)');
  const kafka = createKafka(config, logger, 'test');
  await ensureTopics(kafka, config, config.topicPrefix);
  const relay = new OutboxRelay(t.db, kafka, logger, { batchSize: 200, pollIntervalMs: 20, topicPrefix: config.topicPrefix, maxBackoffMs: 500 });
  const runner = new ProjectionRunner(t.db, [new StreamCatalogueProjection(), new ApplicationLog()]);
  const feed = new KafkaEventFeed(kafka, logger, { groupId: `${config.topicPrefix}projector`, topicPrefix: config.topicPrefix });
  const confirmation = new StoreConfirmation(t.db);
  return {
    t,
    kafka,
    relay,
    feed,
    runner,
    project: async (messages) => {
      await runner.applyBatch(await confirmation.confirm(messages));
    },
    stop: async () => {
      await relay.stop();
      await feed.stop();
      await t.close();
    },
  };
}

describe('outbox relay → Kafka → projector (real broker, real PostgreSQL)', () => {
  it('publishes each event once, keyed by patient, on its domain topic, and projects what a replay would', async () => {
    const config = testKafkaConfig();
    const p = await pipeline(config);
    try {
      for (let i = 0; i < 40; i++) {
        await p.t.store.append(i % 2 ? `consent-p${i % 4}` : `access-a${i}`, [testEvent('Thing', { i }, `patient-${i % 4}`)], { expectedVersion: 'any' });
      }
      await p.t.store.append('image-x1', [testEvent('ImageRegistered')], { expectedVersion: 'no-stream' });

      // Read the topics directly to check the wire format.
      const seen: Array<{ topic: string; key: string; event: StoredEvent }> = [];
      const consumer = p.kafka.consumer({ groupId: `${config.topicPrefix}inspector` });
      await consumer.connect();
      await consumer.subscribe({ topics: [topicFor('access-', config.topicPrefix), topicFor('consent-', config.topicPrefix), topicFor('image-', config.topicPrefix)], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ topic, message }) => {
          seen.push({ topic, key: message.key!.toString(), event: JSON.parse(message.value!.toString()) as StoredEvent });
        },
      });
      p.relay.start();
      await waitFor('41 messages', async () => seen.length >= 41, 60_000);
      await consumer.disconnect();

      expect(seen).toHaveLength(41);
      expect(new Set(seen.map((s) => s.event.globalSeq)).size).toBe(41);
      const access = seen.find((s) => s.event.streamId === 'access-a0')!;
      expect(access.topic).toBe(`${config.topicPrefix}custos.access`);
      expect(access.key).toBe('patient-0');
      expect(seen.find((s) => s.event.streamId === 'image-x1')).toMatchObject({ topic: `${config.topicPrefix}custos.image`, key: 'image-x1' });
      expect(seen.find((s) => s.event.streamId === 'consent-p1')).toMatchObject({ topic: `${config.topicPrefix}custos.consent`, key: 'patient-1' });
      const stored = await p.t.store.readAll(0);
      const fromKafka = seen.map((s) => s.event).sort((a, b) => a.globalSeq - b.globalSeq);
      expect(fromKafka).toEqual(stored); // the full envelope, hash and sequence included
      expect(await p.relay.pending()).toBe(0);

      // The projector's consumer group projects everything; a replay then changes nothing.
      await p.feed.start((messages) => p.project(messages));
      await waitFor('projection to reach 40', async () => (await p.runner.position()) === 40, 60_000);
      const tables = ['custos_rm_streams', 'custos_rm_event_types'];
      const live = await snapshotTables(p.t.db, tables);
      await p.feed.stop();
      await p.runner.replay(p.t.store);
      expect(await snapshotTables(p.t.db, tables)).toEqual(live);
    } finally {
      await p.stop();
      await deleteTopicsWithPrefix(config.brokers, config.topicPrefix);
    }
  });

  it('keeps recording while the broker is down mid-burst, then projects each of 1,000 events exactly once', async () => {
    const broker = new PrivateBroker(Number(process.env.TEST_OUTAGE_KAFKA_PORT ?? 9192));
    await broker.reset();
    await broker.start();
    const config = testKafkaConfig({ brokers: [broker.address] });
    const p = await pipeline(config);
    try {
      p.relay.start();
      await p.feed.start((messages) => p.project(messages));

      let appended = 0;
      let stopped: Promise<void> | undefined;
      const writers = Array.from({ length: 10 }, async (_, w) => {
        for (let i = 0; i < 100; i++) {
          await p.t.store.append(`access-w${w}-${i % 5}`, [testEvent('AccessPermitted', { w, i }, `patient-${w}`)], { expectedVersion: 'any' });
          appended += 1;
          if (appended === 300) stopped = broker.stop();
          if (appended > 300 && appended < 700) await new Promise((r) => setTimeout(r, 2)); // keep writing through the outage
        }
      });
      await Promise.all(writers);
      await stopped;
      expect(appended).toBe(1000); // the store kept recording: not one append failed
      expect(await p.relay.pending()).toBeGreaterThan(0); // and held what Kafka could not take
      await broker.start();
      await waitFor('all 1,000 events projected', async () => (await p.runner.position()) === 999, 120_000);
      expect(await p.relay.pending()).toBe(0);
      const [row] = await p.t.db.query<{ n: string | number; d: string | number }>('SELECT count(*) AS n, count(DISTINCT global_seq) AS d FROM test_applications');
      expect(Number(row?.n)).toBe(1000);
      expect(Number(row?.d)).toBe(1000);
      const [types] = await p.t.db.query<{ n: string | number }>('SELECT sum(event_count) AS n FROM custos_rm_event_types');
      expect(Number(types?.n)).toBe(1000);
    } finally {
      await p.stop();
      await broker.stop();
      await broker.reset(); // a private broker: its whole log dir goes
    }
  });
});
