import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { allTopics } from './topics.js';

/**
 * A batch of parsed messages. They are claims, not events: anyone who can produce to the
 * topics can write one, so they are `unknown` until the store confirms them
 * (StoreConfirmation returns the store's own copies, which are what a projection may apply).
 */
export type EventBatchHandler = (messages: unknown[]) => Promise<void>;

/**
 * A Kafka consumer group that hands batches of messages to a handler (the projector confirms
 * them against the store, then runs the projection runner) and commits offsets only after the
 * handler committed its own transaction. The runner is idempotent by global sequence, so a
 * redelivery after a crash is harmless.
 *
 * kafkajs calls `eachBatch` once per partition. The partitions of one fetch are consumed
 * concurrently and their batches joined into one handler call (up to `maxEvents`), so the
 * projector runs one transaction per fetch rather than one per partition, and the events it
 * gets are mostly contiguous in global order (which keeps the runner's ledger empty).
 */
export class KafkaEventFeed {
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly logger: Logger,
    private readonly options: { groupId: string; topicPrefix?: string; maxEvents?: number; partitionsConsumedConcurrently?: number; /** Topic names without the prefix (default: every topic). */ topics?: readonly string[] },
  ) {}

  async start(handler: EventBatchHandler): Promise<void> {
    const joined = new BatchJoiner(handler, this.options.maxEvents ?? 10_000);
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
    await consumer.subscribe({ topics: this.options.topics ? this.options.topics.map((t) => (this.options.topicPrefix ?? '') + t) : allTopics(this.options.topicPrefix), fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 64,
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const events: unknown[] = [];
        for (const message of batch.messages) {
          try {
            events.push(JSON.parse(message.value?.toString('utf8') ?? '') as unknown);
          } catch {
            // Handed on as what it is, so the consumer's confirmation refuses it and alarms (someone wrote to the topic).
            events.push({ notJson: { topic: batch.topic, partition: batch.partition, offset: message.offset } });
          }
        }
        await joined.submit(events);
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

/**
 * Joins batches submitted while a handler call is queued or running into the next call:
 * group commit for the consumer. Each submitter learns the outcome of the call that held its
 * events; a failure fails every batch of that call (each is redelivered, and the handler is
 * idempotent).
 */
export class BatchJoiner<T> {
  private pending: Array<{ items: T[]; resolve: () => void; reject: (e: unknown) => void }> = [];
  private flushing = false;

  constructor(
    private readonly handler: (items: T[]) => Promise<void>,
    private readonly maxItems: number,
  ) {}

  submit(items: T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ items, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // One turn of the event loop lets the other partitions of the same fetch join.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const group: typeof this.pending = [];
      let size = 0;
      while (this.pending.length > 0 && (group.length === 0 || size + (this.pending[0]?.items.length ?? 0) <= this.maxItems)) {
        const next = this.pending.shift() as (typeof this.pending)[number];
        group.push(next);
        size += next.items.length;
      }
      try {
        await this.handler(group.flatMap((g) => g.items));
        for (const g of group) g.resolve();
      } catch (e) {
        for (const g of group) g.reject(e);
      }
    }
    this.flushing = false;
  }
}
