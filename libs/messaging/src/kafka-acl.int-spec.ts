import { randomInt } from 'node:crypto';
import { createLogger, type KafkaConfig } from '@custos/platform';
import { ProjectionRunner, StreamCatalogueProjection } from '@custos/projections';
import { openTestStore, PrivateBroker, testEvent, testKafkaConfig } from '@custos/testing';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, type Kafka, ResourcePatternTypes } from 'kafkajs';
import { createKafka, ensureTopics, KafkaEventFeed, OutboxRelay, pingKafka, StoreConfirmation, topicFor } from './index.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const logger = createLogger('silent');
const USERS = { admin: 'admin-secret', 'custos-relay': 'relay-secret', 'custos-projector': 'projector-secret', 'custos-gateway': 'gateway-secret' } as const;
type User = keyof typeof USERS;

/**
 * docs/kafka.md's lock-down on a real broker that takes only SASL/SCRAM and enforces ACLs:
 * only the relay's principal may produce to the custos.* topics, the projector's reads them
 * (and its group) and nothing else, a client without credentials gets nothing. Custos' own
 * relay and projector work under exactly those grants.
 */
describe('Kafka locked down: SASL/SCRAM principals and ACLs (real broker)', () => {
  // A broker of this test's own (4000-4999, as the brief asks), SCRAM users written at format.
  const broker = new PrivateBroker(Number(process.env.TEST_ACL_KAFKA_PORT ?? 4700 + 2 * randomInt(0, 100)), { KAFKA_SCRAM_USERS: Object.entries(USERS).map(([u, p]) => `${u}=${p}`).join(' ') });
  let base: KafkaConfig;
  const as = (user: User, password: string = USERS[user]): KafkaConfig => ({ ...base, sasl: { mechanism: 'scram-sha-512', username: user, password } });
  const client = (user: User, password?: string): Kafka => createKafka(as(user, password), logger, user);

  beforeAll(async () => {
    await broker.reset();
    await broker.start();
    base = testKafkaConfig({ brokers: [broker.address] });
    const prefix = base.topicPrefix;
    // The operator (super user) makes the topics and the grants, as docs/kafka.md shows with kafka-acls.sh.
    await ensureTopics(client('admin'), base, prefix);
    const admin = client('admin').admin();
    await admin.connect();
    const topics = { resourceType: AclResourceTypes.TOPIC, resourceName: `${prefix}custos.`, resourcePatternType: ResourcePatternTypes.PREFIXED, host: '*', permissionType: AclPermissionTypes.ALLOW };
    await admin.createAcls({
      acl: [
        { ...topics, principal: 'User:custos-relay', operation: AclOperationTypes.WRITE },
        { ...topics, principal: 'User:custos-relay', operation: AclOperationTypes.DESCRIBE },
        { ...topics, principal: 'User:custos-projector', operation: AclOperationTypes.READ },
        { ...topics, principal: 'User:custos-projector', operation: AclOperationTypes.DESCRIBE },
        { resourceType: AclResourceTypes.GROUP, resourceName: `${prefix}projector`, resourcePatternType: ResourcePatternTypes.LITERAL, host: '*', permissionType: AclPermissionTypes.ALLOW, principal: 'User:custos-projector', operation: AclOperationTypes.READ },
      ],
    });
    await admin.disconnect();
  }, 240_000);

  afterAll(async () => {
    await broker.stop();
    await broker.reset();
  });

  it('refuses a produce by any principal but the relay’s, and a client without credentials or with a wrong password', async () => {
    const forged = { topic: topicFor('access-', base.topicPrefix), messages: [{ key: 'p-invented', value: '{"globalSeq":0,"hash":"ffff"}' }] };
    const projectorProducer = client('custos-projector').producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
    await projectorProducer.connect();
    try {
      await expect(projectorProducer.send(forged)).rejects.toThrow(/Not authorized to access topics|Topic authorization failed/);
    } finally {
      await projectorProducer.disconnect();
    }

    // A gateway's principal, with no grant at all: its readiness probe still answers; it reads and writes nothing.
    await pingKafka(client('custos-gateway'));
    const gatewayProducer = client('custos-gateway').producer({ retry: { retries: 0 }, allowAutoTopicCreation: false });
    await gatewayProducer.connect();
    await expect(gatewayProducer.send(forged)).rejects.toThrow(/Not authorized to access topics|Topic authorization failed/);
    await gatewayProducer.disconnect();

    const anonymous = createKafka({ ...base, clientId: 'anonymous' }, logger, 'anonymous').producer({ retry: { retries: 0 } });
    await expect(
      (async () => {
        await anonymous.connect();
        await anonymous.send(forged);
      })(),
    ).rejects.toThrow();
    await anonymous.disconnect().catch(() => undefined);
    const guessed = client('custos-relay', 'guess').producer({ retry: { retries: 0 } });
    await expect(guessed.connect()).rejects.toThrow(/SASL|authenticat/i);
    await guessed.disconnect().catch(() => undefined);
  });

  it('the relay publishes and the projector projects under exactly these grants', async () => {
    const t = await openTestStore('postgres', ALL_MIGRATIONS);
    const relay = new OutboxRelay(t.db, client('custos-relay'), logger, { batchSize: 100, pollIntervalMs: 20, topicPrefix: base.topicPrefix, maxBackoffMs: 500 });
    const feed = new KafkaEventFeed(client('custos-projector'), logger, { groupId: `${base.topicPrefix}projector`, topicPrefix: base.topicPrefix });
    const runner = new ProjectionRunner(t.db, [new StreamCatalogueProjection()]);
    const confirmation = new StoreConfirmation(t.db);
    try {
      for (let i = 0; i < 20; i++) await t.store.append(i % 2 ? `consent-p${i % 3}` : `access-a${i}`, [testEvent('Thing', { i }, `patient-${i % 3}`)], { expectedVersion: 'any' });
      relay.start();
      await feed.start(async (messages) => {
        await runner.applyBatch(await confirmation.confirm(messages));
      });
      for (const deadline = Date.now() + 60_000; (await runner.position()) < 19; ) {
        if (Date.now() > deadline) throw new Error(`projected only up to ${await runner.position()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await relay.pending()).toBe(0);
    } finally {
      await relay.stop();
      await feed.stop();
      await t.close();
    }
  });
});
