import { outboxPending, readOutboxAfter, trimOutbox } from '@custos/event-store';
import type { Database, OutboxEntry } from '@custos/event-store';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { registered } from '@custos/platform';
import { Counter, Gauge } from 'prom-client';
import { topicFor } from './topics.js';

type OutboxRow = OutboxEntry;

/** Arbitrary, fixed: the advisory lock that elects one active relay among several processes. */
const RELAY_LOCK = 7_243_001;

export interface OutboxRelayOptions {
  batchSize: number;
  pollIntervalMs: number;
  topicPrefix?: string;
  /** Longest pause between attempts while Kafka is down. */
  maxBackoffMs?: number;
}

/**
 * Drains the transactional outbox into Kafka, in global order. One relay leads at a time (a
 * session advisory lock); it reads the oldest outbox rows, publishes them (idempotent
 * producer, acks from all in-sync replicas) and deletes them once acknowledged. If Kafka is
 * down the rows stay and the relay retries with backoff: the store keeps recording and
 * nothing is lost. A crash between publish and delete republishes; consumers are idempotent
 * by global sequence.
 */
export class OutboxRelay {
  private producer: Producer | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private failing = false;

  constructor(
    private readonly db: Database,
    private readonly kafka: Kafka,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }

  /** Rows still waiting to be published. */
  async pending(): Promise<number> {
    return outboxPending(this.db);
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        await this.db.session(async (session) => {
          const [lock] = await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RELAY_LOCK]);
          if (!lock?.locked) return this.sleep(this.options.pollIntervalMs * 10); // another relay leads
          try {
            await this.lead(() => (backoff = 100));
          } finally {
            await session.query('SELECT pg_advisory_unlock($1)', [RELAY_LOCK]).catch(() => undefined);
          }
        });
      } catch (e) {
        if (!this.failing) this.logger.warn({ err: { message: (e as Error).message } }, 'relay: cannot publish, events stay in the outbox; retrying');
        this.failing = true;
        relayMetrics().failures.inc();
        // While failing, the backlog is what an operator watches grow.
        await this.pending()
          .then((n) => relayMetrics().pending.set(n))
          .catch(() => undefined);
        await this.producer?.disconnect().catch(() => undefined);
        this.producer = undefined;
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 2000);
      }
    }
  }

  /**
   * While leader: read the next rows while the previous round is still being published, so
   * the database and Kafka work in parallel. Publishing stays strictly in order (each round
   * waits for the one before), and a round's rows are deleted only after Kafka acknowledged
   * them; on any failure everything unacknowledged is read again from the outbox.
   */
  private async lead(onProgress: () => void): Promise<void> {
    const producer = await this.connectedProducer();
    let lastRead = -1;
    let inFlight: Promise<void>[] = [];
    try {
      while (this.running) {
        if (inFlight.length >= 2) await inFlight.shift();
        const rows = await this.readAfter(lastRead);
        if (rows.length > 0) {
          lastRead = Number((rows[rows.length - 1] as OutboxRow).global_seq);
          const previous = inFlight[inFlight.length - 1] ?? Promise.resolve();
          const round = previous.then(() => this.publish(producer, rows));
          round.catch(() => undefined); // surfaced when awaited below
          inFlight.push(round);
        }
        if (rows.length < this.options.batchSize) {
          await Promise.all(inFlight);
          inFlight = [];
          if (this.failing) {
            this.logger.info('relay: publishing again');
            this.failing = false;
          }
          onProgress();
          relayMetrics().pending.set(0); // caught up: everything read has been acknowledged
          if (rows.length === 0) await this.sleep(this.options.pollIntervalMs);
        }
      }
    } finally {
      await Promise.allSettled(inFlight);
    }
  }

  private readAfter(lastRead: number): Promise<OutboxRow[]> {
    return readOutboxAfter(this.db, lastRead, this.options.batchSize);
  }

  private async publish(producer: Producer, rows: OutboxRow[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const row of rows) {
      const topic = topicFor(row.stream_id, this.options.topicPrefix);
      const list = byTopic.get(topic) ?? [];
      list.push({
        key: row.key,
        value: row.envelope,
        headers: { 'custos-type': row.type, 'custos-global-seq': String(row.global_seq), 'custos-schema-version': String(row.schema_version) },
      });
      byTopic.set(topic, list);
    }
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    // Outbox rows are written in global order under the chain-head lock, so nothing below the
    // last published sequence can still appear: one range delete clears the round.
    const last = Number((rows[rows.length - 1] as OutboxRow).global_seq);
    await trimOutbox(this.db, last);
    relayMetrics().published.inc(rows.length);
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true, retry: { retries: 3, maxRetryTime: 1000 } });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function relayMetrics(): { published: Counter; failures: Counter; pending: Gauge } {
  return {
    published: registered('custos_relay_published_total', () => new Counter({ name: 'custos_relay_published_total', help: 'Events the outbox relay published to Kafka' })),
    failures: registered('custos_relay_failures_total', () => new Counter({ name: 'custos_relay_failures_total', help: 'Relay rounds that failed (Kafka or database unavailable)' })),
    pending: registered('custos_outbox_pending', () => new Gauge({ name: 'custos_outbox_pending', help: 'Events recorded but not yet published to Kafka' })),
  };
}
