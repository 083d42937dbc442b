import { createHash } from 'node:crypto';
import { ConcurrencyError } from '@custos/errors';
import { commandShell, type Database, eventCodec, type EventStore, readEventsAt, readLog, type StoredEvent } from '@custos/event-store';
import { registered } from '@custos/platform';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';

/**
 * Why a message on the topics was not taken as an event: its envelope is not one
 * (`malformed`), the store has no event at its sequence even after waiting (`not-in-store`),
 * or the store's event at its sequence is another one (`mismatch`: hash, stream, version,
 * event id or type differ).
 */
export type RefusalReason = 'malformed' | 'not-in-store' | 'mismatch';

/** A refused message, described without anything it carries about people (no patient, no actor, no data). */
export interface Refusal {
  readonly reason: RefusalReason;
  /** The sequence the message claims (null when it claims none that could be one). */
  readonly globalSeq: number | null;
  readonly claimedHash: string | null;
  /** The hash of the store's event at that sequence (null when there is none). */
  readonly storedHash: string | null;
  /** SHA-256 of the message's envelope: one alarm per distinct message. */
  readonly digest: string;
}

export interface StoreConfirmationOptions {
  /**
   * How long a message whose sequence the store does not hold yet is waited for (default
   * 2,000 ms). The relay publishes only committed events, so a real one is there at once;
   * the wait covers nothing but a reader a moment behind.
   */
  readonly waitMs?: number;
  readonly pollMs?: number;
  /** Called once per distinct refused message (by digest) in this process. */
  readonly onRefused?: (refusal: Refusal) => void | Promise<void>;
}

const HASH = /^[0-9a-f]{64}$/;

/**
 * What a consumer of the topics trusts: nothing the store does not confirm. Anyone who can
 * produce to a `custos.*` topic can put an envelope there, so a batch of messages is a list
 * of claims ("the event at sequence n is this one"). `confirm` reads the events at the
 * claimed sequences from `custos_events` (one query per batch) and returns the store's own
 * copies: the read models are built from the log, never from a message body. A message whose
 * hash, stream, version, event id or type differ from the store's event at its sequence, or
 * whose sequence the store does not hold (after waiting briefly), is refused and reported;
 * its sequence is not returned unless the store holds an event there, so the real event at
 * that sequence is still projected, now (read from the store) or when it arrives.
 */
export class StoreConfirmation {
  private readonly waitMs: number;
  private readonly pollMs: number;
  private readonly reported = new Set<string>();
  /**
   * Sequences refused as not in the store, looked up again with every later batch: when the
   * store holds an event there, it is returned (projected) even if its own message never
   * comes, e.g. a database replica that lagged more than the wait. Bounded (oldest dropped).
   */
  private readonly unconfirmed = new Set<number>();

  constructor(
    private readonly db: Database,
    private readonly options: StoreConfirmationOptions = {},
  ) {
    this.waitMs = options.waitMs ?? 2000;
    this.pollMs = options.pollMs ?? 100;
  }

  /** The store's events at the sequences the messages claim, oldest first; refusals go to `onRefused`. */
  async confirm(messages: readonly unknown[]): Promise<StoredEvent[]> {
    const claims: Claim[] = [];
    const refusals: Refusal[] = [];
    for (const message of messages) {
      if (isClaim(message)) claims.push(message);
      else refusals.push({ reason: 'malformed', globalSeq: claimedSeq(message), claimedHash: claimedHash(message), storedHash: null, digest: digestOf(message) });
    }
    const stored = new Map<number, StoredEvent>();
    let missing = [...new Set(claims.map((c) => c.globalSeq))];
    for (const deadline = Date.now() + this.waitMs; missing.length > 0; ) {
      for (const e of await this.read(missing)) stored.set(e.globalSeq, e);
      missing = missing.filter((seq) => !stored.has(seq));
      if (missing.length === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    const recheck = [...this.unconfirmed].filter((seq) => !stored.has(seq));
    if (recheck.length > 0) for (const e of await readEventsAt(this.db, recheck)) stored.set(e.globalSeq, e);
    for (const seq of this.unconfirmed) if (stored.has(seq)) this.unconfirmed.delete(seq);
    for (const claim of claims) {
      const real = stored.get(claim.globalSeq);
      if (!real) {
        refusals.push({ reason: 'not-in-store', globalSeq: claim.globalSeq, claimedHash: claim.hash, storedHash: null, digest: digestOf(claim) });
        if (this.unconfirmed.size >= 1000) this.unconfirmed.delete(this.unconfirmed.values().next().value as number);
        this.unconfirmed.add(claim.globalSeq);
      } else if (!matches(claim, real)) refusals.push({ reason: 'mismatch', globalSeq: claim.globalSeq, claimedHash: claim.hash, storedHash: real.hash, digest: digestOf(claim) });
    }
    for (const refusal of refusals) await this.report(refusal);
    return [...stored.values()].sort((a, b) => a.globalSeq - b.globalSeq);
  }

  /**
   * The store's events at these sequences, in one query: a range scan when they are mostly
   * contiguous (a fetch across every partition usually is), else a lookup by list.
   */
  private async read(seqs: readonly number[]): Promise<StoredEvent[]> {
    let min = Number.MAX_SAFE_INTEGER;
    let max = -1;
    for (const seq of seqs) {
      if (seq < min) min = seq;
      if (seq > max) max = seq;
    }
    if (max - min + 1 <= 2 * seqs.length) {
      const wanted = new Set(seqs);
      return (await readLog(this.db, min, max, max - min + 1)).filter((e) => wanted.has(e.globalSeq));
    }
    return readEventsAt(this.db, seqs);
  }

  private async report(refusal: Refusal): Promise<void> {
    if (this.reported.has(refusal.digest)) return;
    // Bounded: a flood of distinct forgeries cannot grow this without limit (the log's alarm
    // stream is keyed by digest, so a digest forgotten here still alarms only once there).
    if (this.reported.size >= 10_000) this.reported.clear();
    this.reported.add(refusal.digest);
    try {
      await this.options.onRefused?.(refusal);
    } catch (e) {
      this.reported.delete(refusal.digest); // not recorded: the batch fails, and its redelivery reports it again
      throw e;
    }
  }
}

/** The fields a message must carry to claim a place in the log. */
interface Claim {
  globalSeq: number;
  hash: string;
  streamId: string;
  version: number;
  eventId: string;
  type: string;
}

function isClaim(m: unknown): m is Claim {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
  const c = m as Record<string, unknown>;
  return (
    Number.isSafeInteger(c.globalSeq) &&
    (c.globalSeq as number) >= 0 &&
    typeof c.hash === 'string' &&
    HASH.test(c.hash) &&
    typeof c.streamId === 'string' &&
    Number.isSafeInteger(c.version) &&
    typeof c.eventId === 'string' &&
    typeof c.type === 'string'
  );
}

function matches(claim: Claim, real: StoredEvent): boolean {
  return claim.hash === real.hash && claim.streamId === real.streamId && claim.version === real.version && claim.eventId === real.eventId && claim.type === real.type;
}

function claimedSeq(m: unknown): number | null {
  const seq = typeof m === 'object' && m !== null ? (m as { globalSeq?: unknown }).globalSeq : undefined;
  return Number.isSafeInteger(seq) ? (seq as number) : null;
}

function claimedHash(m: unknown): string | null {
  const hash = typeof m === 'object' && m !== null ? (m as { hash?: unknown }).hash : undefined;
  return typeof hash === 'string' && HASH.test(hash) ? hash : null;
}

function digestOf(m: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(m) ?? 'undefined')
    .digest('hex');
}

/** A message on the topics that the store did not confirm: the alarm's record in the log. */
export type ProjectionIntegrityAlarm = { readonly type: 'ProjectionIntegrityAlarm'; readonly data: Refusal & { readonly consumer: string } };
const alarmCodec = eventCodec<ProjectionIntegrityAlarm>({ ProjectionIntegrityAlarm: { version: 1 } });
const alarmDecider = {
  initialState: null,
  evolve: () => null,
  decide: (c: { data: ProjectionIntegrityAlarm['data'] }): ProjectionIntegrityAlarm[] => [{ type: 'ProjectionIntegrityAlarm', data: c.data }],
};

/**
 * The projector's alarm when the topics carry what the store does not confirm: an error line
 * (sequence, reason, hashes; nothing personal), a Prometheus counter by reason, a state
 * `/health` reports as degraded, and a `ProjectionIntegrityAlarm` event in the log, once per
 * distinct message (its stream is keyed by the message's digest, so a redelivery or a second
 * projector does not add another). The projector keeps running: what the store confirms is
 * still projected.
 */
export class ProjectionIntegrity {
  private latest: Refusal | undefined;
  private count = 0;
  private readonly alarms;

  constructor(
    store: EventStore,
    private readonly logger: Logger,
    private readonly consumer = 'projector',
  ) {
    this.alarms = commandShell({ store, clock: { now: () => new Date() }, decider: alarmDecider, codec: alarmCodec });
  }

  /** For `/health`: throws, naming the cause, once a message was refused. */
  check(): void {
    const r = this.latest;
    if (r) {
      throw new Error(`failed: ${this.count} message(s) on the topics not confirmed by the store; latest: sequence ${r.globalSeq ?? '?'} (${r.reason}, message ${r.digest.slice(0, 16)})`);
    }
  }

  async raise(refusal: Refusal): Promise<void> {
    this.latest = refusal;
    this.count += 1;
    refusalsMetric().inc({ consumer: this.consumer, reason: refusal.reason });
    this.logger.error(
      { globalSeq: refusal.globalSeq, reason: refusal.reason, claimedHash: refusal.claimedHash, storedHash: refusal.storedHash, digest: refusal.digest },
      `${this.consumer}: refused a message the store does not confirm (not projected): someone may be writing to the topics`,
    );
    try {
      await this.alarms.handle(
        `projection-integrity-${refusal.digest.slice(0, 32)}`,
        { data: { ...refusal, consumer: this.consumer } },
        { actor: { id: 'custos-projector', roles: ['system'] }, correlationId: `projection-integrity-${refusal.digest.slice(0, 32)}` },
        { expectedVersion: 'no-stream' },
      );
    } catch (e) {
      if (e instanceof ConcurrencyError) return; // recorded already (a redelivery, or another projector)
      // Not recorded (the database is down): the batch fails and Kafka redelivers it, so the alarm is retried.
      throw e;
    }
  }
}

function refusalsMetric(): Counter {
  return registered(
    'custos_projection_integrity_refusals_total',
    () => new Counter({ name: 'custos_projection_integrity_refusals_total', help: 'Distinct messages on the topics the store did not confirm (refused, not projected)', labelNames: ['consumer', 'reason'] }),
  );
}
