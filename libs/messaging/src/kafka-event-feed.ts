import type { StoredEvent } from '@custos/event-store';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { allTopics } from './topics.js';

export type EventBatchHandler = (events: StoredEvent[]) => Promise<void>;

/**
 * A Kafka consumer group that hands batches of event envelopes to a handler (the projection
 * runner) and commits offsets only after the handler committed its own transaction. The
 * handler is idempotent by global sequence, so a redelivery after a crash is harmless.
 */
export class KafkaEventFeed {
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly logger: Logger,
    private readonly options: { groupId: string; topicPrefix?: string },
  ) {}

  async start(handler: EventBatchHandler): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      // A projector killed without leaving the group holds its partitions until its session
      // expires: 10 s (not kafkajs' 30 s) bounds that stall; heartbeats every second keep a
      // live one well inside it. A clean stop leaves the group at once (stop(), on SIGTERM).
      sessionTimeout: 10000,
      rebalanceTimeout: 10000,
      heartbeatInterval: 1000,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 3000 },
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: allTopics(this.options.topicPrefix), fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const events: StoredEvent[] = [];
        for (const message of batch.messages) {
          try {
            events.push(JSON.parse(message.value?.toString('utf8') ?? '') as StoredEvent);
          } catch {
            this.logger.error({ topic: batch.topic, partition: batch.partition, offset: message.offset }, 'projector: skipping a message that is not an event envelope');
          }
        }
        await handler(events);
        resolveOffset(batch.lastOffset());
        await commitOffsetsIfNecessary({
          topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(batch.lastOffset()) + 1n).toString() }] }],
        });
        await heartbeat();
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    this.consumer = undefined;
  }
}
