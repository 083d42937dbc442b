import type { Database, StoredEvent } from '@custos/event-store';
import type { Kafka, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { Counter, Gauge, register } from 'prom-client';
import { topicFor } from './topics.js';

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
 * Drains the transactional outbox into Kafka, in global order: within one transaction it
 * takes the relay lock, reads the oldest outbox rows, publishes them (idempotent producer,
 * acks from all in-sync replicas), and deletes them. If Kafka is down the transaction rolls
 * back, the rows stay, and the relay retries with backoff: the store keeps recording and
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

  /** Publishes one batch; returns how many events went out (0 when idle or not the leader). */
  async publishOnce(): Promise<number> {
    const producer = await this.connectedProducer();
    return this.db.transaction(async (sql) => {
      const [lock] = await sql.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [RELAY_LOCK]);
      if (!lock?.locked) return 0;
      // Postgres writes each envelope's JSON itself: no parse and re-stringify per event here.
      const rows = await sql.query<{ global_seq: number | string; stream_id: string; key: string; envelope: string; type: string; schema_version: number }>(
        `SELECT e.global_seq, e.stream_id, coalesce(e.metadata->>'patientId', e.stream_id) AS key, e.type, e.schema_version,
                json_build_object(
                  'eventId', e.event_id, 'streamId', e.stream_id, 'version', e.version, 'globalSeq', e.global_seq,
                  'type', e.type, 'schemaVersion', e.schema_version, 'data', e.data, 'metadata', e.metadata,
                  'occurredAt', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                  'prevHash', e.prev_hash, 'hash', e.hash)::text AS envelope
           FROM custos_outbox o JOIN custos_events e ON e.global_seq = o.global_seq
          ORDER BY o.global_seq LIMIT $1`,
        [this.options.batchSize],
      );
      if (rows.length === 0) return 0;
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
      const last = Number((rows[rows.length - 1] as { global_seq: number | string }).global_seq);
      await sql.execute('DELETE FROM custos_outbox WHERE global_seq <= $1', [last]);
      const events = rows;
      relayMetrics().published.inc(events.length);
      return events.length;
    });
  }

  /** Rows still waiting to be published. */
  async pending(): Promise<number> {
    const [row] = await this.db.query<{ n: number | string }>('SELECT count(*) AS n FROM custos_outbox');
    return Number(row?.n ?? 0);
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        const sent = await this.publishOnce();
        if (this.failing) {
          this.logger.info('relay: publishing again');
          this.failing = false;
        }
        backoff = 100;
        if (sent < this.options.batchSize) await this.sleep(this.options.pollIntervalMs);
      } catch (e) {
        if (!this.failing) this.logger.warn({ err: { message: (e as Error).message } }, 'relay: cannot publish, events stay in the outbox; retrying');
        this.failing = true;
        relayMetrics().failures.inc();
        await this.producer?.disconnect().catch(() => undefined);
        this.producer = undefined;
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 2000);
      }
      if (this.running) {
        this.pending()
          .then((n) => relayMetrics().pending.set(n))
          .catch(() => undefined);
      }
    }
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

/** The Kafka message of one event: the full envelope, keyed by patient (else stream). */
export function toMessage(event: StoredEvent): Message {
  return {
    key: event.metadata.patientId ?? event.streamId,
    value: JSON.stringify(event),
    headers: { 'custos-type': event.type, 'custos-global-seq': String(event.globalSeq), 'custos-schema-version': String(event.schemaVersion) },
  };
}

function relayMetrics(): { published: Counter; failures: Counter; pending: Gauge } {
  return {
    published:
      (register.getSingleMetric('custos_relay_published_total') as Counter | undefined) ??
      new Counter({ name: 'custos_relay_published_total', help: 'Events the outbox relay published to Kafka' }),
    failures:
      (register.getSingleMetric('custos_relay_failures_total') as Counter | undefined) ??
      new Counter({ name: 'custos_relay_failures_total', help: 'Relay rounds that failed (Kafka or database unavailable)' }),
    pending:
      (register.getSingleMetric('custos_outbox_pending') as Gauge | undefined) ??
      new Gauge({ name: 'custos_outbox_pending', help: 'Events recorded but not yet published to Kafka' }),
  };
}
