import { readFileSync } from 'node:fs';
import type { KafkaConfig } from '@custos/platform';
import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { allTopics } from './topics.js';

/**
 * A kafkajs client whose own log lines go to pino (as JSON, at warn and above), authenticated
 * as this process's principal where SASL is configured (docs/kafka.md).
 */
export function createKafka(config: KafkaConfig, logger: Logger, role: string): Kafka {
  return new Kafka({
    clientId: `${config.clientId}-${role}`,
    brokers: config.brokers,
    ...(config.sasl ? { sasl: saslOf(config.sasl) } : {}),
    ...(config.ssl ? { ssl: config.ssl.caFile ? { ca: [readFileSync(config.ssl.caFile, 'utf8')] } : true } : {}),
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 5 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        const fields = { kafka: { broker: extra.broker, error: extra.error } };
        if (level <= KafkaLogLevel.ERROR) logger.warn(fields, `kafka: ${message}`);
        else logger.debug(fields, `kafka: ${message}`);
      },
  });
}

function saslOf(sasl: NonNullable<KafkaConfig['sasl']>): SASLOptions {
  const { username, password } = sasl;
  // kafkajs types each mechanism as its own literal; the config holds one of the three.
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

/** Creates the topics Custos publishes to, if they do not exist yet. */
export async function ensureTopics(kafka: Kafka, config: KafkaConfig, prefix = ''): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = allTopics(prefix).filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({ topic, numPartitions: config.topicPartitions, replicationFactor: -1 })),
      });
    }
  } finally {
    await admin.disconnect();
  }
}

/** Readiness probe: a metadata request succeeds. */
export async function pingKafka(kafka: Kafka): Promise<void> {
  // No retries: a probe answers now or says down; it must not leave retry timers behind.
  const admin = kafka.admin({ retry: { retries: 0 } });
  await admin.connect();
  try {
    await admin.describeCluster();
  } finally {
    await admin.disconnect();
  }
}
