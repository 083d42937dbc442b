import { ConcurrencyError, UnavailableError, ValidationError } from '@custos/errors';
import { Ids, RandomIds, registered } from '@custos/platform';
import { Counter, Histogram } from 'prom-client';
import { canonicalJson, toStorableJson } from './canonical-json.js';
import type { Sql } from './database.js';
import { Database } from './database.js';
import type { AppendRequest, AppendResult, EventMetadata, ExpectedVersion, NewEvent, ReadCondition, StoredEvent } from './envelope.js';
import { GENESIS_HASH, hashCanonical } from './hash-chain.js';

const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$/;
const EVENT_TYPE = /^[A-Za-z][A-Za-z0-9._-]{0,199}$/;
const INSERT_CHUNK = 500;
/**
 * Current version of each stream in $1: one backward probe of the (stream_id, version) index
 * per stream, whatever the planner thinks of the table's size.
 */
/** Each stream's version and the hash of its last event (the next event's stream link). */
const STREAM_VERSIONS = `SELECT ids.id, last.version AS v, last.hash AS h FROM unnest($1::text[]) AS ids(id)
  LEFT JOIN LATERAL (SELECT version, hash FROM custos_events e WHERE e.stream_id = ids.id ORDER BY version DESC LIMIT 1) last ON true`;

/**
 * Takes the chain head under lock and reads the streams' versions in one round trip. The
 * versions come from the statement's snapshot, taken before any wait for the lock; the
 * snapshot's own view of the head (snap_seq) tells whether an append committed in between.
 */
const HEAD_AND_VERSIONS = `SELECT h.last_seq, h.last_hash,
        (SELECT last_seq FROM custos_chain_head WHERE id = 1) AS snap_seq,
        (SELECT json_object_agg(s.id, json_build_array(s.v, s.h)) FROM (${STREAM_VERSIONS}) s WHERE s.v IS NOT NULL) AS versions
   FROM custos_chain_head h WHERE h.id = 1 FOR UPDATE OF h`;

/** Events, their outbox rows and the new chain head: one statement, columns as arrays. */
const APPEND = `WITH appended AS (
     INSERT INTO custos_events (global_seq, event_id, stream_id, version, type, schema_version, data, metadata, occurred_at, prev_hash, hash, stream_prev_hash)
     SELECT * FROM unnest($3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::text[], $8::int[], $9::jsonb[], $10::jsonb[], $11::timestamptz[], $12::text[], $13::text[], $14::text[])
     RETURNING global_seq
   ), queued AS (
     INSERT INTO custos_outbox (global_seq) SELECT global_seq FROM appended
   )
   UPDATE custos_chain_head SET last_seq = $1, last_hash = $2 WHERE id = 1`;

export interface EventStoreOptions {
  ids?: Ids;
  /** Most events one group-commit transaction carries (default 2,000). */
  maxEventsPerCommit?: number;
  /** Seals personal fields before an event is hashed and stored (the key service's cipher). */
  sealer?: EventSealer;
}

/**
 * Seals the personal part of an event before it is stored (`@custos/keys` implements it).
 * The store hashes, stores and publishes what `seal` returns: no personal field in clear
 * reaches the log, the outbox or Kafka.
 */
export interface EventSealer {
  /** Whether the event has personal fields to seal (decided without I/O). */
  sealable(event: NewEvent): boolean;
  seal(streamId: string, event: NewEvent): Promise<NewEvent>;
}

interface Pending {
  readonly requests: readonly PreparedRequest[];
  readonly resolve: (results: AppendResult[]) => void;
  readonly reject: (error: unknown) => void;
}

interface PreparedRequest {
  readonly streamId: string;
  readonly expectedVersion: ExpectedVersion;
  readonly events: readonly PreparedEvent[];
  readonly conditions: readonly ReadCondition[];
}

interface PreparedEvent {
  readonly eventId: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: unknown;
  readonly metadata: EventMetadata;
  readonly occurredAt: string;
  /** Canonical JSON of data and metadata, made before the lock: hashed, and stored as is. */
  readonly canonicalData: string;
  readonly canonicalMetadata: string;
}

/** An event this process committed, with the canonical JSON of its data and metadata as hashed. */
export interface CommittedEvent {
  readonly event: StoredEvent;
  readonly canonicalData: string;
  readonly canonicalMetadata: string;
}

/**
 * The system of record: an append-only, hash-chained log in Postgres.
 *
 * Every append takes the chain head row under lock, so global positions are dense and in
 * commit order and each event's prevHash is the hash of the event just before it, whatever
 * number of processes append at once. Concurrent `append` calls within this process are
 * group-committed: one transaction carries all that queued while the previous one ran, each
 * call still checked against its own expected version, which keeps the serialised chain head
 * from limiting throughput to one transaction per event.
 */
export class EventStore {
  private readonly ids: Ids;
  private readonly maxEventsPerCommit: number;
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly db: Database,
    options: EventStoreOptions = {},
  ) {
    this.ids = options.ids ?? new RandomIds();
    this.maxEventsPerCommit = options.maxEventsPerCommit ?? 2000;
    this.sealer = options.sealer;
  }

  private readonly sealer: EventSealer | undefined;
  private readonly committedListeners: Array<(events: readonly CommittedEvent[]) => void> = [];

  /**
   * Hands every event this process commits, with the canonical JSON it was hashed from, to
   * `listener`, after the commit and off the callers' path (the log integrator uses it to
   * avoid reading back and re-canonicalising what it could not have got otherwise). Events
   * other processes append never come here. A listener that throws is ignored. Returns a
   * function that detaches it.
   */
  onCommitted(listener: (events: readonly CommittedEvent[]) => void): () => void {
    this.committedListeners.push(listener);
    return () => {
      const i = this.committedListeners.indexOf(listener);
      if (i >= 0) this.committedListeners.splice(i, 1);
    };
  }

  /**
   * Appends events to one stream after checking its version (and, with `conditions`, that
   * streams it read but does not write are still at the versions read). Resolves once committed.
   */
  async append(streamId: string, events: readonly NewEvent[], options: { expectedVersion: ExpectedVersion; conditions?: readonly ReadCondition[] }): Promise<AppendResult> {
    const [result] = await this.enqueue([{ streamId, events, expectedVersion: options.expectedVersion, ...(options.conditions ? { conditions: options.conditions } : {}) }]);
    return result as AppendResult;
  }

  /**
   * Appends to several streams in one transaction, all or nothing: if any stream's expected
   * version does not hold, nothing is written and a ConcurrencyError names that stream.
   */
  async appendBatch(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    if (requests.length === 0) return [];
    return this.enqueue(requests);
  }

  async readStream(streamId: string, options: { fromVersion?: number } = {}): Promise<StoredEvent[]> {
    const rows = await this.db.query<EventRow>(
      `SELECT ${COLUMNS} FROM custos_events WHERE stream_id = $1 AND version >= $2 ORDER BY version`,
      [streamId, options.fromVersion ?? 1],
    );
    return rows.map(toStoredEvent);
  }

  /** The global log from a position on, oldest first (replay, embedded projections, verify). */
  async readAll(fromSeq: number, limit = 1000): Promise<StoredEvent[]> {
    const rows = await this.db.query<EventRow>(
      `SELECT ${COLUMNS} FROM custos_events WHERE global_seq >= $1 ORDER BY global_seq LIMIT $2`,
      [fromSeq, limit],
    );
    return rows.map(toStoredEvent);
  }

  /** One event by its id, or undefined. */
  async readEvent(eventId: string): Promise<StoredEvent | undefined> {
    if (!UUID.test(eventId)) return undefined;
    const [row] = await this.db.query<EventRow>(`SELECT ${COLUMNS} FROM custos_events WHERE event_id = $1`, [eventId]);
    return row ? toStoredEvent(row) : undefined;
  }

  /** Whether the log holds an event of `type` about this patient (metadata.patientId; indexed). */
  async patientHasEvent(patientId: string, type: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM custos_events WHERE metadata->>'patientId' = $1 AND type = $2 LIMIT 1`, [patientId, type]);
    return rows.length > 0;
  }

  /**
   * Who (metadata.actor.id, as recorded) has an event of one of `types` about this patient
   * with `from <= occurredAt <= to`: the log itself, not a projection that may lag. Distinct
   * ids, as written; the caller compares them its own way (case folding is the caller's rule).
   */
  async patientActors(patientId: string, types: readonly string[], from: Date, to: Date): Promise<string[]> {
    const rows = await this.db.query<{ actor: string | null }>(
      `SELECT DISTINCT metadata->'actor'->>'id' AS actor FROM custos_events WHERE metadata->>'patientId' = $1 AND type = ANY($2::text[]) AND occurred_at >= $3 AND occurred_at <= $4`,
      [patientId, [...types], from, to],
    );
    return rows.flatMap((r) => (typeof r.actor === 'string' ? [r.actor] : []));
  }

  /** The last committed position and hash (-1 and the genesis hash for an empty log). */
  async head(): Promise<{ lastSeq: number; lastHash: string }> {
    const [row] = await this.db.query<{ last_seq: number | string; last_hash: string }>(
      'SELECT last_seq, last_hash FROM custos_chain_head WHERE id = 1',
    );
    if (!row) throw new Error('custos_chain_head is empty: migrations have not run');
    return { lastSeq: Number(row.last_seq), lastHash: row.last_hash };
  }

  /** The stream's current version (0 when it has no events). */
  async streamVersion(streamId: string): Promise<number> {
    const [row] = await this.db.query<{ v: number | string | null }>('SELECT max(version) AS v FROM custos_events WHERE stream_id = $1', [streamId]);
    return Number(row?.v ?? 0);
  }

  private async enqueue(requests: readonly AppendRequest[]): Promise<AppendResult[]> {
    const sealer = this.sealer;
    if (sealer && requests.some((r) => Array.isArray(r.events) && r.events.some((e) => sealer.sealable(e)))) {
      // Checked in clear first: ill-formed text is refused, not sealed where no check sees it.
      for (const r of requests) this.prepare(r);
      requests = await Promise.all(requests.map(async (r) => ({ ...r, events: await Promise.all(r.events.map((e) => sealer.seal(r.streamId, e))) })));
    }
    const prepared = requests.map((r) => this.prepare(r));
    return new Promise<AppendResult[]>((resolve, reject) => {
      this.queue.push({ requests: prepared, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch: Pending[] = [];
        let events = 0;
        while (this.queue.length > 0) {
          const next = this.queue[0] as Pending;
          const size = next.requests.reduce((n, r) => n + r.events.length, 0);
          if (batch.length > 0 && events + size > this.maxEventsPerCommit) break;
          batch.push(next);
          this.queue.shift();
          events += size;
        }
        await this.commit(batch);
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * One transaction for the whole group. If it fails for anything but an unreachable store,
   * one item may be at fault (input the database refuses): the items are then committed one
   * by one, so only the faulty one fails and every other caller gets its answer.
   */
  private async commit(batch: Pending[]): Promise<void> {
    const timer = metrics().appendSeconds.startTimer();
    let outcomes: Array<AppendResult[] | ConcurrencyError>;
    const written: CommittedEvent[] = [];
    try {
      outcomes = await this.db.transaction((sql) => {
        written.length = 0;
        return this.write(sql, batch, written);
      });
    } catch (error) {
      timer();
      if (batch.length > 1 && !(error instanceof UnavailableError)) {
        metrics().retriedAlone.inc(batch.length);
        for (const p of batch) await this.commit([p]);
        return;
      }
      for (const p of batch) p.reject(asClientError(error));
      return;
    }
    timer();
    metrics().transactions.inc();
    if (written.length > 0) {
      for (const listener of this.committedListeners) {
        try {
          listener(written);
        } catch {
          // a listener's fault is its own: the append has committed
        }
      }
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof ConcurrencyError) return p.reject(outcome);
      metrics().events.inc((outcome as AppendResult[]).reduce((n, r) => n + r.events.length, 0));
      p.resolve(outcome as AppendResult[]);
    });
  }

  private async write(sql: Sql, batch: Pending[], written: CommittedEvent[]): Promise<Array<AppendResult[] | ConcurrencyError>> {
    const streamIds = [...new Set(batch.flatMap((p) => p.requests.flatMap((r) => [r.streamId, ...r.conditions.map((c) => c.streamId)])))];
    // One round trip takes the chain head under lock and reads the streams' versions. The
    // versions come from the statement's snapshot, taken before any wait for the lock; the
    // snapshot's own view of the head (snap_seq) tells whether an append committed in
    // between, and only then are the versions read again.
    const [head] = await sql.query<{ last_seq: number | string; last_hash: string; snap_seq: number | string; versions: Record<string, [number, string]> | null }>(HEAD_AND_VERSIONS, [streamIds], {
      name: 'custos_head_and_versions',
    });
    if (!head) throw new Error('custos_chain_head is empty: migrations have not run');
    let seq = Number(head.last_seq);
    let prevHash = head.last_hash;
    let versionRows: Array<{ stream_id: string; v: number | string; h: string }> = Object.entries(head.versions ?? {}).map(([stream_id, [v, h]]) => ({ stream_id, v, h }));
    if (Number(head.snap_seq) !== seq) {
      versionRows = (await sql.query<{ id: string; v: number | string | null; h: string | null }>(STREAM_VERSIONS, [streamIds], { name: 'custos_stream_versions' }))
        .filter((r) => r.v !== null)
        .map((r) => ({ stream_id: r.id, v: r.v as number | string, h: r.h as string }));
    }
    const versions = new Map<string, number>(versionRows.map((r) => [r.stream_id, Number(r.v)]));
    const streamHeads = new Map<string, string>(versionRows.map((r) => [r.stream_id, r.h]));

    const outcomes: Array<AppendResult[] | ConcurrencyError> = [];
    const rows: Array<{ event: StoredEvent; data: string; metadata: string }> = [];
    for (const pending of batch) {
      // Check every stream of the item before writing any of it: an item is all or nothing.
      const conflict = firstConflict(pending.requests, versions);
      if (conflict) {
        outcomes.push(conflict);
        continue;
      }
      const results: AppendResult[] = [];
      for (const request of pending.requests) {
        let version = versions.get(request.streamId) ?? 0;
        const stored: StoredEvent[] = [];
        for (const e of request.events) {
          seq += 1;
          version += 1;
          const streamPrevHash = streamHeads.get(request.streamId) ?? GENESIS_HASH;
          const position = { eventId: e.eventId, streamId: request.streamId, version, globalSeq: seq, type: e.type, schemaVersion: e.schemaVersion, occurredAt: e.occurredAt, prevHash, streamPrevHash };
          const hash = hashCanonical(position, e.canonicalData, e.canonicalMetadata);
          const event: StoredEvent = { ...position, data: e.data, metadata: e.metadata, hash };
          prevHash = hash;
          streamHeads.set(request.streamId, hash);
          stored.push(event);
          rows.push({ event, data: e.canonicalData, metadata: e.canonicalMetadata });
          written.push({ event, canonicalData: e.canonicalData, canonicalMetadata: e.canonicalMetadata });
        }
        versions.set(request.streamId, version);
        results.push({ streamId: request.streamId, nextExpectedVersion: version, events: stored });
      }
      outcomes.push(results);
    }

    // Events, their outbox rows and the new chain head in one statement per chunk: fewer
    // round trips while the chain head is held is what keeps appends near raw INSERT speed.
    // Columns as arrays through unnest: one statement text whatever the chunk's size, so it is
    // prepared once per connection instead of parsed and planned on every commit.
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const last = (chunk[chunk.length - 1] as (typeof rows)[number]).event;
      const column = <V>(f: (r: (typeof rows)[number]) => V): V[] => chunk.map(f);
      await sql.execute(
        APPEND,
        [
          last.globalSeq,
          last.hash,
          column((r) => r.event.globalSeq),
          column((r) => r.event.eventId),
          column((r) => r.event.streamId),
          column((r) => r.event.version),
          column((r) => r.event.type),
          column((r) => r.event.schemaVersion),
          column((r) => r.data),
          column((r) => r.metadata),
          column((r) => r.event.occurredAt),
          column((r) => r.event.prevHash),
          column((r) => r.event.hash),
          column((r) => r.event.streamPrevHash ?? null),
        ],
        { name: 'custos_append' },
      );
    }
    return outcomes;
  }

  private prepare(request: AppendRequest): PreparedRequest {
    const { streamId, events, expectedVersion } = request;
    if (typeof streamId !== 'string' || !STREAM_ID.test(streamId)) {
      throw new ValidationError('streamId must be 1-200 characters of letters, digits and ._:@-', { streamId });
    }
    if (!Array.isArray(events) || events.length === 0) throw new ValidationError('an append needs at least one event', { streamId });
    if (typeof expectedVersion === 'number' && (!Number.isInteger(expectedVersion) || expectedVersion < 0)) {
      throw new ValidationError('expectedVersion must be a non-negative integer, "no-stream" or "any"', { streamId });
    }
    const conditions = request.conditions ?? [];
    for (const c of conditions) {
      if (!STREAM_ID.test(c.streamId) || !Number.isInteger(c.version) || c.version < 0) throw new ValidationError('a read condition needs a stream id and a version >= 0', { streamId: c.streamId });
    }
    return {
      streamId,
      expectedVersion,
      conditions,
      events: events.map((e, i) => {
        if (!EVENT_TYPE.test(e.type)) throw new ValidationError(`events[${i}].type is malformed`, { type: e.type });
        if (!Number.isInteger(e.schemaVersion) || e.schemaVersion < 1) throw new ValidationError(`events[${i}].schemaVersion must be >= 1`);
        if (!(e.occurredAt instanceof Date) || Number.isNaN(e.occurredAt.getTime())) throw new ValidationError(`events[${i}].occurredAt is not a valid date`);
        if (!e.metadata?.actor?.id || !e.metadata.correlationId) throw new ValidationError(`events[${i}].metadata needs actor and correlationId`);
        const data = toStorableJson(e.data, `events[${i}].data`);
        const metadata = toStorableJson(e.metadata, `events[${i}].metadata`);
        return {
          eventId: this.ids.next(),
          type: e.type,
          schemaVersion: e.schemaVersion,
          data,
          metadata: metadata as unknown as EventMetadata,
          occurredAt: e.occurredAt.toISOString(),
          canonicalData: canonicalJson(data),
          canonicalMetadata: canonicalJson(metadata),
        };
      }),
    };
  }
}

function firstConflict(requests: readonly PreparedRequest[], versions: ReadonlyMap<string, number>): ConcurrencyError | undefined {
  const seen = new Map(versions);
  for (const r of requests) {
    for (const c of r.conditions) {
      const at = seen.get(c.streamId) ?? 0;
      if (at !== c.version) return new ConcurrencyError(c.streamId, c.version, at, 'condition-failed');
    }
    const current = seen.get(r.streamId) ?? 0;
    const expected = r.expectedVersion === 'no-stream' ? 0 : r.expectedVersion;
    if (expected !== 'any' && expected !== current) return new ConcurrencyError(r.streamId, r.expectedVersion, current);
    seen.set(r.streamId, current + r.events.length);
  }
  return undefined;
}

export interface EventRow {
  global_seq: number | string;
  event_id: string;
  stream_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date | string;
  prev_hash: string;
  hash: string;
  stream_prev_hash: string | null;
}

export const COLUMNS = 'global_seq, event_id, stream_id, version, type, schema_version, data, metadata, occurred_at, prev_hash, hash, stream_prev_hash';

export function toStoredEvent(row: EventRow): StoredEvent {
  return {
    eventId: row.event_id,
    streamId: row.stream_id,
    version: Number(row.version),
    globalSeq: Number(row.global_seq),
    type: row.type,
    schemaVersion: Number(row.schema_version),
    data: row.data,
    metadata: row.metadata,
    occurredAt: new Date(row.occurred_at).toISOString(),
    prevHash: row.prev_hash,
    ...(row.stream_prev_hash !== null && row.stream_prev_hash !== undefined ? { streamPrevHash: row.stream_prev_hash } : {}),
    hash: row.hash,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** SQLSTATEs of input PostgreSQL refuses to store (bad text, bad JSON, out-of-range values). */
const INPUT_SQLSTATES = new Set(['22P05', '22021', '22P02', '22007', '22008', '22003', '22001', '2200C', '22030', '22032']);

/** A database refusal of one item's input becomes a 400; anything else stays as it is. */
function asClientError(error: unknown): unknown {
  const code = (error as { code?: unknown; driverError?: { code?: unknown } })?.code ?? (error as { driverError?: { code?: unknown } })?.driverError?.code;
  if (typeof code === 'string' && INPUT_SQLSTATES.has(code)) return new ValidationError('the database refused this input', { sqlstate: code }, 'unstorable-input');
  return error;
}

let cached: { events: Counter; transactions: Counter; appendSeconds: Histogram; retriedAlone: Counter } | undefined;
function metrics(): NonNullable<typeof cached> {
  cached ??= {
    events: registered('custos_events_appended_total', () => new Counter({ name: 'custos_events_appended_total', help: 'Events committed to the event store' })),
    transactions: registered('custos_append_transactions_total', () => new Counter({ name: 'custos_append_transactions_total', help: 'Append transactions committed (group commits)' })),
    retriedAlone: registered('custos_append_retried_alone_total', () => new Counter({ name: 'custos_append_retried_alone_total', help: 'Appends retried on their own after their group commit failed' })),
    appendSeconds: registered(
      'custos_append_seconds',
      () => new Histogram({ name: 'custos_append_seconds', help: 'Duration of one append transaction', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] }),
    ),
  };
  return cached;
}
