/**
 * `npm run bench`: throughput figures, each beside the raw limit measured in the same run on
 * the same machine (not a test; nothing here asserts a timing).
 *
 *   raw PostgreSQL INSERT (one row per transaction, and 500-row statements)
 *   EventStore append: sequential, concurrent (group commit), batched
 *   raw kafkajs produce (idempotent, acks=all, 500-message batches) vs the outbox relay
 *   raw SHA-256 over canonical JSON (the hash chain's own cost)
 *   DICOMweb through Custos beside Orthanc itself (bench/dicomweb.ts; BENCH_ONLY=dicomweb alone, BENCH_DICOMWEB=0 skips)
 *   the discrete Laplace sampler and a balance report's pure part (bench/dp.ts; BENCH_ONLY=dp alone)
 *   a balance report's whole path over 100,000 patients on PostgreSQL (bench/balance.ts; BENCH_ONLY=balance alone)
 *
 * Uses BENCH_DATABASE_URL (default: the test server) with a fresh database, and KAFKA_BROKERS
 * (default: the local broker, started with scripts/kafka.sh).
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { canonicalJson, Database, EventStore, type Json, type NewEvent } from '@custos/event-store';
import { createKafka, ensureTopics, OutboxRelay } from '@custos/messaging';
import { createLogger, type KafkaConfig } from '@custos/platform';
import { ALL_MIGRATIONS, PERSONAL_FIELDS } from '@custos/contexts';
import { KeyService, openKek, PayloadCipher } from '@custos/keys';
import pg from 'pg';
import { benchServer, type DecisionRun, plotSvg, type ServerKind, tempDataDir } from './decisions.js';
import { projectorCatchUp, rawConsume, replayFromStore, trailAtScale } from './catch-up.js';
import { logFigures } from './log.js';
import { sentinelFigures } from './sentinel.js';
import { dicomwebFigures } from './dicomweb.js';
import { dpFigures } from './dp.js';
import { balanceFigures } from './balance.js';

const logger = createLogger('silent');
const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const results: Array<{ what: string; perSecond: number; raw?: string; ratio?: number }> = [];

function payload(i: number): NewEvent {
  return {
    type: 'AccessDecided',
    schemaVersion: 2,
    // A whole AccessDecided (projections read every field), and 96 random bytes standing for an encrypted part.
    data: {
      resourceType: 'image',
      resourceId: `img-${i}`,
      action: 'view',
      purpose: 'TREATMENT',
      patientId: `patient-${i % 200}`,
      decision: i % 5 ? 'PERMIT' : 'DENY',
      rule: i % 5 ? 'clinician-treatment' : 'consent-not-granted',
      reason: 'bench',
      emergency: false,
      consentVersion: 0,
      policyVersion: 'bench',
      ciphertext: randomBytes(96).toString('base64url'),
    },
    metadata: { actor: { id: `user-${i % 50}`, roles: ['clinician'] }, correlationId: `bench-${i}`, patientId: `patient-${i % 200}` },
    occurredAt: new Date(),
  };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function report(what: string, count: number, seconds: number, raw?: { what: string; perSecond: number }): number {
  const perSecond = count / seconds;
  results.push({ what, perSecond, ...(raw ? { raw: raw.what, ratio: perSecond / raw.perSecond } : {}) });
  console.log(`${what.padEnd(52)} ${perSecond.toFixed(0).padStart(9)}/s${raw ? `   ratio to ${raw.what}: ${(perSecond / raw.perSecond).toFixed(2)}` : ''}`);
  return perSecond;
}

async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `custos_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** The bench's own topics go when it ends, so runs do not pile partitions onto the broker. */
async function dropTopics(brokers: string[], prefix: string): Promise<void> {
  const admin = createKafka({ brokers, clientId: 'custos-bench-cleanup', topicPartitions: 1, topicPrefix: '' }, logger, 'cleanup').admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics });
  } catch {
    /* best effort */
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function postgresVersion(): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return ((await c.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown').split(' ')[0] as string;
  } finally {
    await c.end();
  }
}

/** Every figure before the HTTP rounds; true when BENCH_ONLY asked for one section only. */
async function figures(): Promise<boolean> {
  const SINGLE = Number(process.env.BENCH_SINGLE ?? 3000);
  const BATCHED = Number(process.env.BENCH_BATCHED ?? 20000);
  const RELAY = Number(process.env.BENCH_RELAY ?? 20000);
    const target = await freshDatabase();
  const db = await Database.open({ kind: 'postgres', url: target.url, poolSize: 10 }, ALL_MIGRATIONS);
  try {
    // BENCH_ONLY=log: the verifiable log's figures alone (a few minutes instead of the hour).
    if (process.env.BENCH_ONLY === 'log') {
      await logFigures(db, new EventStore(db), report, results);
      return true;
    }
    // BENCH_ONLY=balance: a balance report's whole path over 100,000 patients alone.
    if (process.env.BENCH_ONLY === 'balance') {
      await balanceFigures(db, report, results);
      return true;
    }
    // BENCH_ONLY=sentinel: the sentinel's figures alone.
    if (process.env.BENCH_ONLY === 'sentinel') {
      await sentinelFigures(db, new EventStore(db), report, results);
      return true;
    }
    // Raw INSERTs of rows shaped like the log (no chain, no checks, no triggers).
    await db.execute(`CREATE TABLE raw_events (LIKE custos_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`);
    const rows = Array.from({ length: BATCHED }, (_, i) => payload(i));
    const rowParams = (e: NewEvent, seq: number) => [seq, crypto.randomUUID(), `access-${seq}`, 1, e.type, 1, JSON.stringify(e.data), JSON.stringify(e.metadata), e.occurredAt.toISOString(), '0'.repeat(64), '0'.repeat(64)];
    const insert = 'INSERT INTO raw_events (global_seq, event_id, stream_id, version, type, schema_version, data, metadata, occurred_at, prev_hash, hash) VALUES ';
    const placeholders = (n: number) => Array.from({ length: n }, (_, r) => `(${Array.from({ length: 11 }, (_, c) => `$${r * 11 + c + 1}`).join(',')})`).join(',');
    const rawSingle = report(
      'raw INSERT, one row per transaction',
      SINGLE,
      await timed(async () => {
        for (let i = 0; i < SINGLE; i++) await db.transaction((sql) => sql.execute(insert + placeholders(1), rowParams(rows[i]!, i)));
      }),
    );
    await db.execute('TRUNCATE raw_events');
    const rawBatched = report(
      'raw INSERT, 500-row statements',
      BATCHED,
      await timed(async () => {
        for (let i = 0; i < BATCHED; i += 500) {
          const chunk = rows.slice(i, i + 500);
          await db.transaction((sql) => sql.execute(insert + placeholders(chunk.length), chunk.flatMap((e, j) => rowParams(e, i + j))));
        }
      }),
    );

    const store = new EventStore(db);
    report(
      'EventStore.append, sequential (one event per call)',
      SINGLE,
      await timed(async () => {
        for (let i = 0; i < SINGLE; i++) await store.append(`access-s${i}`, [rows[i]!], { expectedVersion: 'no-stream' });
      }),
      { what: 'raw single', perSecond: rawSingle },
    );
    const concurrency = 64;
    report(
      `EventStore.append, ${concurrency} concurrent callers (group commit)`,
      BATCHED,
      await timed(async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < BATCHED) {
              const i = next++;
              await store.append(`access-c${i}`, [rows[i]!], { expectedVersion: 'no-stream' });
            }
          }),
        );
      }),
      { what: 'raw single', perSecond: rawSingle },
    );
    report(
      'EventStore.appendBatch, 500 events per transaction',
      BATCHED,
      await timed(async () => {
        for (let i = 0; i < BATCHED; i += 500) {
          await store.appendBatch(rows.slice(i, i + 500).map((e, j) => ({ streamId: `access-b${i + j}`, events: [e], expectedVersion: 'no-stream' as const })));
        }
      }),
      { what: 'raw batched', perSecond: rawBatched },
    );

    // Personal fields: sealed and opened through the key service's cipher (node-jose JWE, dir +
    // A256GCM, one data key per patient, 200 patients), beside raw AES-256-GCM (node:crypto) of
    // the same plaintext. Decisions without a personal field (most) skip all of this.
    const SEALS = Number(process.env.BENCH_SEALS ?? 5000);
    const aesKey = randomBytes(32);
    const reason = (i: number) => `bench: patient unconscious, imaging needed now (${i})`;
    const rawAes = report(
      'raw AES-256-GCM (node:crypto), same plaintext',
      SEALS * 4,
      await timed(async () => {
        for (let i = 0; i < SEALS * 4; i++) {
          const c = createCipheriv('aes-256-gcm', aesKey, randomBytes(12));
          Buffer.concat([c.update(JSON.stringify({ emergencyReason: reason(i) }), 'utf8'), c.final()]);
          c.getAuthTag();
        }
      }),
    );
    const ring = await openKek({ kind: 'memory' }, () => undefined);
    const cipher = new PayloadCipher(new KeyService(db, ring), PERSONAL_FIELDS);
    const personal = (i: number): NewEvent => {
      const e = payload(i);
      return { ...e, data: { ...(e.data as object), emergency: true, emergencyReason: reason(i) } };
    };
    const sealedEvents: NewEvent[] = [];
    report(
      'first event of a patient: data key made, wrapped (node-jose A256KW), stored',
      200,
      await timed(async () => {
        for (let i = 0; i < 200; i++) sealedEvents.push(await cipher.seal(`access-patient-${i}`, personal(i)));
      }),
    );
    report(
      'seal personal fields: compact JWE (node:crypto), key cached',
      SEALS,
      await timed(async () => {
        for (let i = 200; i < SEALS + 200; i++) sealedEvents.push(await cipher.seal(`access-patient-${i % 200}`, personal(i)));
      }),
      { what: 'raw AES-GCM', perSecond: rawAes },
    );
    const reader = new PayloadCipher(new KeyService(db, ring), PERSONAL_FIELDS);
    report(
      'open them again: node-jose, a reader with no cache',
      sealedEvents.length,
      await timed(async () => {
        for (const e of sealedEvents) await reader.open(e);
      }),
      { what: 'raw AES-GCM', perSecond: rawAes },
    );

    await logFigures(db, store, report, results);

    // Kafka: raw produce vs the relay draining the outbox, same messages.
    let brokers = process.env.KAFKA_BROKERS;
    if (!brokers) {
      execFileSync('bash', [resolve(import.meta.dirname, '../../scripts/kafka.sh'), 'start'], { stdio: 'inherit' });
      brokers = '127.0.0.1:9092';
    }
    const prefix = `bench${Date.now().toString(36)}.`;
    const kafkaConfig: KafkaConfig = { brokers: brokers.split(','), clientId: 'custos-bench', topicPartitions: 6, topicPrefix: prefix };
    const kafka = createKafka(kafkaConfig, logger, 'bench');
    await ensureTopics(kafka, kafkaConfig, prefix);
    await db.execute('DELETE FROM custos_outbox');
    await store.appendBatch(Array.from({ length: RELAY }, (_, i) => ({ streamId: `access-r${i}`, events: [rows[i % rows.length]!], expectedVersion: 'no-stream' as const })));
    const sampleEvents = await store.readAll((await store.head()).lastSeq - RELAY + 1, RELAY);
    // The raw produce goes to a topic of its own (same partitions), so the custos topics hold
    // exactly the events the relay publishes, for the catch-up figures below.
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: `${prefix}raw.access`, numPartitions: kafkaConfig.topicPartitions }] });
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const rawKafka = report(
      'raw kafkajs produce, idempotent, acks=all, 500/batch',
      RELAY,
      await timed(async () => {
        for (let i = 0; i < RELAY; i += 500) {
          await producer.send({ topic: `${prefix}raw.access`, acks: -1, messages: sampleEvents.slice(i, i + 500).map((e) => ({ key: e.metadata.patientId ?? e.streamId, value: JSON.stringify(e) })) });
        }
      }),
    );
    await producer.disconnect();
    const relay = new OutboxRelay(db, kafka, logger, { batchSize: 500, pollIntervalMs: 5, topicPrefix: prefix });
    report(
      'outbox relay → Kafka (500/round)',
      RELAY,
      await timed(async () => {
        relay.start();
        while ((await relay.pending()) > 0) await new Promise((r) => setTimeout(r, 5));
      }),
      { what: 'raw produce', perSecond: rawKafka },
    );
    await relay.stop();

    // Catch-up: the projector applying those events from Kafka, beside a raw consumer of them.
    const relayed = await store.readAll((await store.head()).lastSeq - RELAY + 1, 1);
    const firstSeq = relayed[0]?.globalSeq ?? 0;
    const rawRead = report('raw kafkajs consume of the same topics', RELAY, RELAY / (await rawConsume(kafka, prefix, RELAY)));
    report('projector catch-up from Kafka (every read model)', RELAY, RELAY / (await projectorCatchUp(kafka, logger, db, prefix, firstSeq, firstSeq + RELAY - 1)), { what: 'raw consume', perSecond: rawRead });
    await dropTopics(kafkaConfig.brokers, prefix);
    const total = (await store.head()).lastSeq + 1;
    report('projector replay from the store, no Kafka (ceiling)', total, total / (await replayFromStore(db, store)), { what: 'raw consume', perSecond: rawRead });

    // The sentinel (issue 12), beside the same raw consume.
    await sentinelFigures(db, store, report, results, rawRead);

    // One patient's trail among many rows (the read model straight from a bulk generator).
    const trailRows = Number(process.env.BENCH_TRAIL_ROWS ?? 10_000_000);
    if (trailRows > 0) {
      const t = await trailAtScale(db, trailRows);
      console.log(`${`trail page for one patient among ${trailRows.toLocaleString('en')} rows`.padEnd(52)}   p50 ${t.p50Ms.toFixed(2)} ms, p99 ${t.p99Ms.toFixed(2)} ms   (loaded in ${t.loadSeconds.toFixed(0)} s)`);
      results.push({ what: `trail page p99 ms, ${trailRows} rows`, perSecond: t.p99Ms });
    }
  } finally {
    await db.close();
    await target.drop();
  }
  return false;
}

async function main(): Promise<void> {
  console.log(`Custos bench — node ${process.version}, ${new Date().toISOString()}\n`);

  // Raw crypto: SHA-256 over the canonical JSON of a stored event.
  const sample = { ...payload(1), occurredAt: new Date().toISOString(), prevHash: '0'.repeat(64), globalSeq: 1, eventId: 'x', streamId: 'access-1', version: 1 } as unknown as Json;
  const hashes = 50000;
  const hashSeconds = await timed(async () => {
    for (let i = 0; i < hashes; i++) createHash('sha256').update(canonicalJson(sample)).digest('hex');
  });
  report('raw SHA-256 over canonical JSON (hash chain cost)', hashes, hashSeconds);

  // BENCH_ONLY=dp: the differential-privacy sampler and the balance report's pure part alone (no database).
  if (process.env.BENCH_ONLY === 'dp') {
    dpFigures(report, results);
    return;
  }
  // BENCH_ONLY=dicomweb: the DICOMweb figures alone (Orthanc, no PostgreSQL or Kafka needed).
  if (process.env.BENCH_ONLY === 'dicomweb') {
    await dicomwebFigures();
    return;
  }
  // BENCH_ONLY=decisions: the HTTP rounds alone (BENCH_SERVERS picks the servers).
  if (process.env.BENCH_ONLY !== 'decisions' && (await figures())) return;
  // Decisions over HTTP: Custos beside the raw baseline, same load, same body, same run.
  const levels = (process.env.BENCH_CONNECTIONS ?? '1,8,32,64,128').split(',').map(Number);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  // BENCH_SERVERS= (empty) runs the figures above only, without the HTTP rounds.
  const servers = (process.env.BENCH_SERVERS ?? 'baseline,baseline-no-kafka,distributed,gateway-only,baseline-pglite,embedded,embedded-sealed').split(',').filter(Boolean) as ServerKind[];
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  const runs: DecisionRun[] = [];
  for (const server of servers) {
    const data = tempDataDir();
    const database = await freshDatabase();
    const topicPrefix = `benchhttp${Date.now().toString(36)}.`;
    try {
      runs.push(...(await benchServer(server, { databaseUrl: database.url, brokers, topicPrefix, dataDir: data.dir }, levels, seconds)));
    } finally {
      data.remove();
      await database.drop();
      await dropTopics(brokers.split(','), 'benchhttp');
    }
  }
  // DICOMweb through Custos beside the archive (its own table and bench/results/<stamp>-dicomweb.json).
  if (process.env.BENCH_DICOMWEB !== '0' && process.env.BENCH_ONLY !== 'decisions') {
    for (const f of (await dicomwebFigures()).figures) results.push({ what: `DICOMweb: ${f.what} (${f.unit})`, perSecond: f.custos, raw: `direct ${f.direct.toFixed(1)}`, ratio: f.ratio });
  }
  if (runs.length === 0) return;
  const reference: Record<ServerKind, ServerKind | undefined> = { baseline: undefined, 'baseline-no-kafka': undefined, 'baseline-pglite': undefined, distributed: 'baseline', 'gateway-only': 'baseline-no-kafka', embedded: 'baseline-pglite', 'embedded-sealed': 'embedded' };
  console.log(`\nHTTP decisions (${seconds} s per level; CPU ms per decision from /proc)`);
  console.log(`${'server'.padEnd(18)} ${'conns'.padStart(5)} ${'dec/s'.padStart(7)} ${'p50'.padStart(6)} ${'p99'.padStart(6)} ${'p99.9'.padStart(6)} ${'srv cpu'.padStart(8)} ${'all cpu'.padStart(8)} ${'pg cpu'.padStart(7)}  ratio`);
  for (const r of runs) {
    const ref = reference[r.server];
    const base = ref ? runs.find((b) => b.server === ref && b.connections === r.connections) : undefined;
    const ratio = base ? `${(r.perSecond / base.perSecond).toFixed(2)} of ${ref}` : '';
    console.log(
      `${r.server.padEnd(18)} ${String(r.connections).padStart(5)} ${r.perSecond.toFixed(0).padStart(7)} ${r.p50Ms.toFixed(1).padStart(6)} ${r.p99Ms.toFixed(1).padStart(6)} ${r.p999Ms.toFixed(1).padStart(6)} ${r.serverCpuMsPerDecision.toFixed(3).padStart(8)} ${r.allProcessesCpuMsPerDecision.toFixed(3).padStart(8)} ${r.pgCpuMsPerDecision.toFixed(3).padStart(7)}  ${ratio}${r.unexpected || r.errors ? `  (unexpected ${r.unexpected}, errors ${r.errors})` : ''}`,
    );
  }
  for (const r of runs.filter((x) => x.detection)) {
    const d = r.detection as NonNullable<DecisionRun['detection']>;
    console.log(`event to detection under ${r.server} at ${r.connections} connections: ${d.cases} cases, p50 ${d.p50Ms.toFixed(0)} ms, p99 ${d.p99Ms.toFixed(0)} ms, max ${d.maxMs.toFixed(0)} ms (answer to the 30th read → incident listed)`);
  }
  const at = new Date();
  const stamp = at.toISOString().slice(0, 16).replace(':', '');
  const dir = resolve(import.meta.dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, postgres: await postgresVersion(), kafka: process.env.KAFKA_VERSION ?? '4.1.2' };
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify({ at: at.toISOString(), machine, seconds, results, decisions: runs }, null, 2)}\n`);
  writeFileSync(join(dir, `${stamp}.svg`), plotSvg(runs, `Custos decisions vs raw baseline, ${machine.cores} cores, ${at.toISOString().slice(0, 10)}`));
  console.log(`\nwritten: bench/results/${stamp}.json and .svg`);
  console.log(`\n${JSON.stringify({ results }, null, 2)}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
