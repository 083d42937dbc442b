import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CommitFeed, Database, EventStore } from '@custos/event-store';
import { createKafka, ensureTopics, KafkaEventFeed, TOPICS } from '@custos/messaging';
import type { CustosConfig } from '@custos/platform';
import { CUSTOS_CONFIG, LOGGER } from '@custos/kernel';
import type { Logger } from 'pino';
import { sentinelParameters } from './domain/rules.js';
import { SentinelRunner } from './sentinel-runner.js';

/** The least time between the end of a round and the start of the next one that commits asked for. */
const ROUND_GAP_MS = 50;

/**
 * Runs the sentinel: a round whenever it is woken and at least every `SENTINEL_POLL_MS`. In
 * embedded mode the gateway hosts it (woken by its own appends' commits); in distributed mode
 * `apps/sentinel` does, woken by its own Kafka consumer group on the topics (the events
 * themselves are read from the store, in global order).
 */
@Injectable()
export class SentinelHost implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly runner: SentinelRunner;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failing = false;
  private feed: KafkaEventFeed | undefined;
  private stopping = false;
  private detach: (() => void) | undefined;

  constructor(
    @Inject(Database) db: Database,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    // Parameters are validated here, at start: a bad SENTINEL_RULES stops the process.
    const { maxConsentLoss, minKappa, kappaWindow } = config.fairness;
    this.runner = new SentinelRunner(db, store, logger, sentinelParameters(config.sentinel.rules), undefined, { maxConsentLoss, minKappa, kappaWindow });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.wake(), this.config.sentinel.pollMs);
    this.timer.unref();
    if (this.config.mode === 'embedded' || !this.config.kafka) {
      // Embedded: what the gateway commits reaches the rules in memory, and wakes them.
      const commits = new CommitFeed();
      this.runner.useFeed(commits);
      const detachFeed = commits.attach(this.store);
      const detachWake = this.store.onCommitted(() => this.wake());
      this.detach = () => {
        detachFeed();
        detachWake();
      };
    }
    else void this.join();
    this.wake();
  }

  /**
   * Runs a round now, or `ROUND_GAP_MS` after the one running: under load commits come faster
   * than rounds, and a round per commit would spend the store's connection (PGlite has one) on
   * reads of a few events each; spaced, each round takes what came meanwhile in one read.
   */
  wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round().finally(() => {
      if (this.again && !this.stopping) {
        this.again = false;
        setTimeout(() => {
          this.running = undefined;
          if (!this.stopping) this.wake();
        }, ROUND_GAP_MS).unref();
        return;
      }
      this.running = undefined;
    });
  }

  private async round(): Promise<void> {
    try {
      await this.runner.catchUp();
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.logger.error({ err: { message: (e as Error).message } }, 'sentinel: evaluation failed; retrying');
      this.failing = true;
    }
  }

  private async join(): Promise<void> {
    const kafka = this.config.kafka;
    if (!kafka) return;
    const client = createKafka(kafka, this.logger, 'sentinel');
    for (let delay = 500; !this.stopping; delay = Math.min(delay * 2, 5000)) {
      try {
        await ensureTopics(client, kafka, kafka.topicPrefix);
        // The access and consent topics carry what the rules count; reference data and the rest are picked up on the next round.
        this.feed = new KafkaEventFeed(client, this.logger, { groupId: this.config.sentinel.groupId, topicPrefix: kafka.topicPrefix, topics: [TOPICS.access, TOPICS.consent] });
        await this.feed.start(async () => {
          this.wake();
        });
        this.logger.info({ groupId: this.config.sentinel.groupId }, 'sentinel: consuming');
        return;
      } catch (e) {
        this.logger.warn({ err: { message: (e as Error).message } }, 'sentinel: cannot join the consumer group yet; polling the store meanwhile');
        await this.feed?.stop();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.detach?.();
    await this.feed?.stop();
    await this.running;
  }
}
