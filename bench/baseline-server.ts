/**
 * The raw baseline of `npm run bench` (not part of the product): the least a Node process can
 * do for the same durable work as an audited decision, so Custos can be measured against what
 * this machine allows.
 *
 *   node:http → parse the JSON body → token looked up in a Map → one policy check → one row
 *   appended with an in-process SHA-256 chain, by group commit (every request waiting while a
 *   statement runs goes into the next multi-row INSERT; one statement at a time) → answer
 *   after the commit; then, off the answer's path and in order, the batch published to Kafka
 *   by an idempotent kafkajs producer (acks=all), as the outbox relay does.
 *
 * Env: PORT; BASELINE_DB (a postgres:// URL, or `pglite:<dir>`); KAFKA_BROKERS and
 * BASELINE_TOPIC (optional: no Kafka without them); BASELINE_TOKENS (JSON: token → roles).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { PGlite } from '@electric-sql/pglite';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

interface Store {
  query(text: string, params?: unknown[]): Promise<unknown>;
}

interface Pending {
  data: string;
  occurredAt: string;
  resolve: (seq: number) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 500;

async function openStore(spec: string): Promise<Store> {
  if (spec.startsWith('pglite:')) {
    const db = new PGlite(spec.slice('pglite:'.length));
    await db.waitReady;
    return { query: (text, params) => db.query(text, params) };
  }
  const client = new pg.Client({ connectionString: spec });
  await client.connect();
  return { query: (text, params) => client.query(text, params) };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3950);
  const store = await openStore(process.env.BASELINE_DB ?? 'postgres://postgres@127.0.0.1:5432/test');
  await store.query('CREATE TABLE IF NOT EXISTS baseline_events (seq bigint PRIMARY KEY, prev_hash text NOT NULL, hash text NOT NULL, data jsonb NOT NULL, occurred_at timestamptz NOT NULL)');
  const tokens = new Map<string, readonly string[]>(Object.entries(JSON.parse(process.env.BASELINE_TOKENS ?? '{}') as Record<string, string[]>));

  const brokers = process.env.KAFKA_BROKERS;
  const topic = process.env.BASELINE_TOPIC ?? 'baseline.access';
  const producer = brokers ? new Kafka({ brokers: brokers.split(','), clientId: 'baseline', logLevel: logLevel.NOTHING }).producer({ idempotent: true, maxInFlightRequests: 1 }) : undefined;
  await producer?.connect();

  let seq = 0;
  let prevHash = '0'.repeat(64);
  let pending: Pending[] = [];
  let writing = false;
  let publishing: Promise<unknown> = Promise.resolve();

  async function flush(): Promise<void> {
    if (writing) return;
    writing = true;
    try {
      while (pending.length > 0) {
        const batch = pending.slice(0, MAX_BATCH);
        pending = pending.slice(batch.length);
        const params: unknown[] = [];
        const values: string[] = [];
        const startSeq = seq;
        let hash = prevHash;
        const rows: Array<{ seq: number; hash: string; data: string }> = [];
        for (const p of batch) {
          const prev = hash;
          hash = createHash('sha256').update(prev).update(p.data).digest('hex');
          const n = params.length;
          values.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5})`);
          params.push(seq + rows.length, prev, hash, p.data, p.occurredAt);
          rows.push({ seq: seq + rows.length, hash, data: p.data });
        }
        try {
          await store.query(`INSERT INTO baseline_events (seq, prev_hash, hash, data, occurred_at) VALUES ${values.join(',')}`, params);
        } catch (e) {
          for (const p of batch) p.reject(e);
          continue;
        }
        seq += batch.length;
        prevHash = hash;
        batch.forEach((p, i) => p.resolve(startSeq + i));
        if (producer) {
          const messages = rows.map((r) => ({ key: String(r.seq % 200), value: r.data }));
          publishing = publishing.then(() => producer.send({ topic, acks: -1, messages })).catch(() => undefined);
        }
      }
    } finally {
      writing = false;
    }
  }

  function append(data: string): Promise<number> {
    return new Promise((resolve, reject) => {
      pending.push({ data, occurredAt: new Date().toISOString(), resolve, reject });
      void flush();
    });
  }

  function answer(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/health') return answer(res, 200, { status: 'ok' });
    if (req.method !== 'POST') return answer(res, 404, { code: 'not-found' });
    const roles = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    if (!roles) return answer(res, 401, { code: 'unauthenticated' });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1_000_000) return answer(res, 413, { code: 'too-large' });
      chunks.push(chunk as Buffer);
    }
    let body: { resourceType?: unknown; resourceId?: unknown; action?: unknown; purpose?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      return answer(res, 400, { code: 'bad-json' });
    }
    if (typeof body !== 'object' || body === null || typeof body.resourceId !== 'string' || typeof body.purpose !== 'string' || typeof body.action !== 'string') return answer(res, 400, { code: 'bad-request' });
    const permit = roles.includes('clinician') && body.purpose === 'TREATMENT';
    const decision = permit ? 'PERMIT' : 'DENY';
    const sequence = await append(JSON.stringify({ resourceType: body.resourceType, resourceId: body.resourceId, action: body.action, purpose: body.purpose, decision, roles }));
    return answer(res, permit ? 200 : 403, { decision, sequence });
  }

  createServer((req, res) => {
    handle(req, res).catch(() => answer(res, 503, { code: 'unavailable' }));
  }).listen(port, '127.0.0.1');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
