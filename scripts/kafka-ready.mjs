// Exit 0 when a Kafka metadata request to the given broker succeeds (used by scripts/kafka.sh).
import { Kafka, logLevel } from 'kafkajs';

const broker = process.argv[2] ?? '127.0.0.1:9092';
// KAFKA_READY_SASL="name=password": a broker started with KAFKA_SCRAM_USERS (SCRAM-SHA-512).
const credentials = process.env.KAFKA_READY_SASL ?? '';
const at = credentials.indexOf('=');
const sasl = at > 0 ? { mechanism: 'scram-sha-512', username: credentials.slice(0, at), password: credentials.slice(at + 1) } : undefined;
const kafka = new Kafka({
  clientId: 'custos-kafka-ready',
  brokers: [broker],
  ...(sasl ? { sasl } : {}),
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
try {
  await admin.connect();
  await admin.fetchTopicMetadata({ topics: [] });
  await admin.disconnect();
  process.exit(0);
} catch {
  process.exit(1);
}
