import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { KafkaConfig } from '@custos/platform';

/** The brokers the global setup made available (KAFKA_BROKERS). */
export function testKafkaConfig(overrides: Partial<KafkaConfig> = {}): KafkaConfig {
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  return { brokers, clientId: 'custos-test', topicPartitions: 3, topicPrefix: uniquePrefix(), ...overrides };
}

/** A topic prefix of its own for one test, so parallel tests never read each other's events. */
export function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}.`;
}

/**
 * A broker of the test's own on another port (scripts/kafka.sh with KAFKA_PORT), for tests
 * that stop and restart Kafka without disturbing the shared one.
 */
export class PrivateBroker {
  /** `env`: more of scripts/kafka.sh's settings (KAFKA_SCRAM_USERS: a broker that takes only SASL and enforces ACLs). */
  constructor(
    readonly port: number,
    private readonly env: Readonly<Record<string, string>> = {},
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  start(): Promise<void> {
    return this.script('start');
  }

  stop(): Promise<void> {
    return this.script('stop');
  }

  reset(): Promise<void> {
    return this.script('reset');
  }

  private async script(command: string): Promise<void> {
    const script = resolve(import.meta.dirname, '../../../scripts/kafka.sh');
    await promisify(execFile)('bash', [script, command], { env: { ...process.env, KAFKA_PORT: String(this.port), KAFKA_HEAP: '-Xms128m -Xmx512m', ...this.env } });
  }
}

/** Deletes every topic with the given prefix (tests clean up what they created). */
export async function deleteTopicsWithPrefix(brokers: string[], prefix: string): Promise<void> {
  if (!prefix) return;
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ clientId: 'custos-test-cleanup', brokers, logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
  } catch {
    // best effort: a broker stopped by the test itself has nothing to clean
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
