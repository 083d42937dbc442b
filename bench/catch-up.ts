/**
 * Catch-up speed and trail reads at scale, for `npm run bench`:
 *
 *   - the projector (KafkaEventFeed → StoreConfirmation → ProjectionRunner → every read model) consuming events
 *     already in Kafka, beside a raw kafkajs consumer reading the same topics in the same run;
 *   - one patient's trail page (the query behind GET /v1/patients/{id}/access-trail) among
 *     BENCH_TRAIL_ROWS rows (default 10^7) loaded by a bulk generator.
 */
import { readTrail } from '@custos/access';
import { allProjections } from '@custos/contexts';
import type { Database, EventStore } from '@custos/event-store';
import { allTopics, KafkaEventFeed, StoreConfirmation } from '@custos/messaging';
import { projectedPosition } from '@custos/projections';
import { createProjectionRunner } from '@custos/runtime';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Events/s of a raw consumer reading `count` messages, from its first message to its last. */
export async function rawConsume(kafka: Kafka, prefix: string, count: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `${prefix}raw-consume`, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topics: allTopics(prefix), fromBeginning: true });
  let seen = 0;
  let first = 0n;
  let last = 0n;
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (seen === 0) first = process.hrtime.bigint();
      for (const m of batch.messages) if (m.value) seen += 1; // the bytes are all a raw reader has to touch
      last = process.hrtime.bigint();
    },
  });
  while (seen < count) await sleep(20);
  await consumer.disconnect();
  return count / (Number(last - first) / 1e9);
}

/** Events/s of the projector applying `count` events from Kafka into every read model. */
export async function projectorCatchUp(kafka: Kafka, logger: Logger, db: Database, prefix: string, firstSeq: number, lastSeq: number): Promise<number> {
  // Start from just below these events, as a projector that was down since then would.
  await db.execute(`INSERT INTO custos_projection_checkpoint (projector, position) VALUES ('main', $1) ON CONFLICT (projector) DO UPDATE SET position = $1`, [firstSeq - 1]);
  await db.execute(`DELETE FROM custos_projection_ledger WHERE projector = 'main'`);
  const runner = createProjectionRunner(db, allProjections());
  const feed = new KafkaEventFeed(kafka, logger, { groupId: `${prefix}projector`, topicPrefix: prefix });
  const confirmation = new StoreConfirmation(db);
  let first = 0n;
  await feed.start(async (messages) => {
    if (first === 0n) first = process.hrtime.bigint();
    await runner.applyBatch(await confirmation.confirm(messages));
  });
  while ((await projectedPosition(db)) < lastSeq) await sleep(20);
  const seconds = Number(process.hrtime.bigint() - first) / 1e9;
  await feed.stop();
  return (lastSeq - firstSeq + 1) / seconds;
}

/**
 * Events/s of a replay: every read model rebuilt from the store, no Kafka. The same writes as
 * catch-up without the feed, i.e. what PostgreSQL allows the projections on this machine.
 */
export async function replayFromStore(db: Database, store: EventStore): Promise<number> {
  const runner = createProjectionRunner(db, allProjections());
  const t0 = process.hrtime.bigint();
  const events = await runner.replay(store, { pageSize: 10_000 });
  return events / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/**
 * Loads `rows` trail rows (10,000 patients, 20 actors, every decision kind) straight into the
 * read model in 1,000,000-row statements, then times one patient's first page and a later
 * page (`limit` 100) `queries` times each, from patients spread across the table.
 */
export async function trailAtScale(db: Database, rows: number, queries = 400): Promise<{ loadSeconds: number; p50Ms: number; p99Ms: number; rows: number }> {
  await db.execute('TRUNCATE custos_rm_access_trail');
  const t0 = process.hrtime.bigint();
  for (let from = 1; from <= rows; from += 1_000_000) {
    const to = Math.min(rows, from + 999_999);
    await db.execute(
      `INSERT INTO custos_rm_access_trail (global_seq, event_id, patient_id, occurred_at, actor_id, actor_roles, resource_type, resource_id, action, purpose, decision, rule, emergency, consent_version, items_returned)
       SELECT g, md5(g::text)::uuid, 'p' || (g % 10000), timestamptz '2026-01-01' + g * interval '10 ms', 'dr-' || (g % 20), '["clinician"]'::jsonb, 'image', 'img-' || (g % 50000), 'view',
              CASE WHEN g % 10 = 0 THEN 'RESEARCH' ELSE 'TREATMENT' END, CASE WHEN g % 10 = 0 THEN 'DENY' ELSE 'PERMIT' END,
              CASE WHEN g % 10 = 0 THEN 'no-matching-rule' ELSE 'clinician-treatment' END, false, g % 7, NULL
         FROM generate_series($1::bigint, $2::bigint) AS g`,
      [from, to],
    );
  }
  await db.execute('ANALYZE custos_rm_access_trail');
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const times: number[] = [];
  for (let i = 0; i < queries; i++) {
    const patientId = `p${(i * 7919) % 10000}`;
    const t = process.hrtime.bigint();
    const page = await readTrail(db, { patientId, limit: 100 });
    if (page.nextCursor) await readTrail(db, { patientId, limit: 100, cursor: page.nextCursor });
    times.push(Number(process.hrtime.bigint() - t) / 1e6 / (page.nextCursor ? 2 : 1));
  }
  times.sort((a, b) => a - b);
  return { loadSeconds, p50Ms: times[Math.floor(times.length * 0.5)] as number, p99Ms: times[Math.floor(times.length * 0.99)] as number, rows };
}
