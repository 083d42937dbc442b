import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Database, EventStore } from '@custos/event-store';
import { createKafka, ensureTopics, KafkaEventFeed, OutboxRelay, pingKafka, ProjectionIntegrity, StoreConfirmation } from '@custos/messaging';
import type { CustosConfig, KafkaConfig } from '@custos/platform';
import { type Projection, ProjectionRunner, quarantineSummary, StoreEventFeed } from '@custos/projections';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { READINESS_PROBES, type ReadinessProbe } from '@custos/kernel';
import { CUSTOS_CONFIG, LOGGER } from '@custos/kernel';

/** The read models of this process (from the contexts it runs), for live projection and replay. */
export const PROJECTIONS = Symbol('PROJECTIONS');

export function createProjectionRunner(db: Database, projections: readonly Projection[], logger?: Logger): ProjectionRunner {
  return new ProjectionRunner(db, projections, 'main', logger ? { logger } : {});
}

/** /health names every projection that lacks a quarantined event (degraded until a replay clears it). */
function quarantineProbe(db: Database, runner: ProjectionRunner): ReadinessProbe {
  return {
    name: 'projections',
    kind: 'alarm',
    check: async () => {
      const summary = await quarantineSummary(db, runner.projector);
      if (summary) throw new Error(summary);
    },
  };
}

function requireKafka(config: CustosConfig): KafkaConfig {
  if (!config.kafka) throw new Error('KAFKA_BROKERS is required for this process');
  return config.kafka;
}

/** Embedded mode: projections fed in process from the store, no Kafka. */
@Injectable()
export class EmbeddedProjections implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly feed: StoreEventFeed;
  readonly runner: ProjectionRunner;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Database) db: Database,
    @Inject(CUSTOS_CONFIG) config: CustosConfig,
    @Inject(LOGGER) logger: Logger,
    @Inject(PROJECTIONS) projections: readonly Projection[],
    @Inject(READINESS_PROBES) probes: ReadinessProbe[],
  ) {
    this.runner = createProjectionRunner(db, projections, logger);
    probes.push(quarantineProbe(db, this.runner));
    this.feed = new StoreEventFeed(store, db, this.runner, logger, { batchSize: config.relay.batchSize, pollIntervalMs: config.relay.pollIntervalMs });
  }

  onApplicationBootstrap(): void {
    this.feed.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.feed.stop();
  }
}

/** Distributed mode: the outbox relay process. */
@Injectable()
export class RelayProcess implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly relay: OutboxRelay;
  private readonly kafka: Kafka;

  constructor(@Inject(Database) db: Database, @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig, @Inject(LOGGER) private readonly logger: Logger) {
    const kafkaConfig = requireKafka(config);
    this.kafka = createKafka(kafkaConfig, logger, 'relay');
    this.relay = new OutboxRelay(db, this.kafka, logger, { ...config.relay, topicPrefix: kafkaConfig.topicPrefix });
  }

  async onApplicationBootstrap(): Promise<void> {
    const kafkaConfig = requireKafka(this.config);
    // The relay starts even with Kafka down: it records nothing itself and retries publishing.
    await ensureTopics(this.kafka, kafkaConfig, kafkaConfig.topicPrefix).catch((e: unknown) =>
      this.logger.warn({ err: { message: (e as Error).message } }, 'relay: could not ensure topics yet; the producer creates them on first publish'),
    );
    this.relay.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }
}

/**
 * Distributed mode: the projector process, one member of the projector consumer group. What
 * it projects is the store's copy of each event the topics announce (StoreConfirmation); a
 * message the store does not confirm is refused and raises the projection-integrity alarm.
 */
@Injectable()
export class ProjectorProcess implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly feed: KafkaEventFeed;
  private readonly kafka: Kafka;
  private readonly confirmation: StoreConfirmation;
  readonly integrity: ProjectionIntegrity;
  readonly runner: ProjectionRunner;

  constructor(
    @Inject(Database) db: Database,
    @Inject(EventStore) store: EventStore,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PROJECTIONS) projections: readonly Projection[],
    @Inject(READINESS_PROBES) probes: ReadinessProbe[],
  ) {
    const kafkaConfig = requireKafka(config);
    this.kafka = createKafka(kafkaConfig, logger, 'projector');
    this.runner = createProjectionRunner(db, projections, logger);
    probes.push(quarantineProbe(db, this.runner));
    this.integrity = new ProjectionIntegrity(store, logger, 'projector');
    this.confirmation = new StoreConfirmation(db, { onRefused: (r) => this.integrity.raise(r) });
    probes.push({ name: 'projection-integrity', kind: 'alarm', check: async () => this.integrity.check() });
    this.feed = new KafkaEventFeed(this.kafka, logger, { groupId: config.projector.groupId, topicPrefix: kafkaConfig.topicPrefix });
  }

  private stopping = false;

  onApplicationBootstrap(): void {
    // Joining the group happens in the background, retried while Kafka is unreachable, so
    // the process stays up (and says so on /health) instead of crash-looping.
    void this.join();
  }

  private async join(): Promise<void> {
    const kafkaConfig = requireKafka(this.config);
    for (let delay = 500; !this.stopping; delay = Math.min(delay * 2, 5000)) {
      try {
        await ensureTopics(this.kafka, kafkaConfig, kafkaConfig.topicPrefix);
        await this.feed.start(async (messages) => {
          await this.runner.applyBatch(await this.confirmation.confirm(messages));
        });
        this.logger.info({ groupId: this.config.projector.groupId }, 'projector: consuming');
        return;
      } catch (e) {
        this.logger.warn({ err: { message: (e as Error).message } }, 'projector: cannot join the consumer group yet; retrying');
        await this.feed.stop();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.feed.stop();
  }
}

/** Readiness includes Kafka wherever the process is configured with brokers. */
export function kafkaReadiness(config: CustosConfig, logger: Logger): ReadinessProbe[] {
  if (!config.kafka) return [];
  const kafka = createKafka(config.kafka, logger, 'health');
  return [{ name: 'kafka', check: () => pingKafka(kafka) }];
}
