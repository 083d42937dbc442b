// Jest global setup: the suite runs against real services only.
// - PostgreSQL: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) must answer.
// - Kafka: KAFKA_BROKERS if set, else the project's own broker, started (idempotently) by
//   scripts/kafka.sh. The broker stays up for the next run; `npm run kafka:stop` stops it.
// - Orthanc (the DICOM archive): DICOMWEB_UPSTREAM if set (with DICOMWEB_UPSTREAM_CREDENTIALS_FILE,
//   ORTHANC_URL, ORTHANC_AUTH), else the project's own, started (idempotently) by scripts/orthanc.sh
//   on TEST_ORTHANC_PORT (default 8042); it stays up too (`bash scripts/orthanc.sh stop`).
// Environment set here is inherited by the test workers.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import pg from 'pg';

export default async function globalSetup() {
  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${url} (${e.message}); start it (see README) or set TEST_DATABASE_URL`, { cause: e });
  } finally {
    await client.end().catch(() => undefined);
  }
  if (!process.env.KAFKA_BROKERS) {
    const port = process.env.TEST_KAFKA_PORT ?? '9092';
    const script = resolve(import.meta.dirname, '../../scripts/kafka.sh');
    execFileSync('bash', [script, 'start'], { stdio: 'inherit', env: { ...process.env, KAFKA_PORT: port } });
    process.env.KAFKA_BROKERS = `127.0.0.1:${port}`;
  }
  if (!process.env.DICOMWEB_UPSTREAM) {
    const script = resolve(import.meta.dirname, '../../scripts/orthanc.sh');
    const env = { ...process.env, ORTHANC_HTTP_PORT: process.env.TEST_ORTHANC_PORT ?? '8042' };
    execFileSync('bash', [script, 'start'], { stdio: 'inherit', env });
    const lines = execFileSync('bash', [script, 'env'], { env, encoding: 'utf8' }).split('\n');
    for (const line of lines) {
      const at = line.indexOf('=');
      if (at > 0) process.env[line.slice(0, at)] = line.slice(at + 1);
    }
  }
}
