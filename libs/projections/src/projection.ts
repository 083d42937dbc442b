import type { DomainEvent } from '@custos/decider';
import { type EventCodec, SEALED_MEMBER, type Sql, type StoredEvent } from '@custos/event-store';

/**
 * A read model fed from the log. `apply` runs inside the runner's transaction, once per
 * event (the runner guarantees it, by global sequence), and must give the same final state
 * whatever order events of different partitions arrive in: that is what lets a replay from
 * the log reach the live state byte for byte.
 */
export interface Projection {
  readonly name: string;
  /** The read-model tables this projection owns: emptied before a replay. */
  readonly tables: readonly string[];
  apply(sql: Sql, event: StoredEvent): Promise<void>;
  /**
   * The same for several events at once (new to this projection, in global order), in a few
   * statements rather than a few per event; the final state must equal applying them one by
   * one. Optional: without it the runner calls `apply` for each.
   */
  applyBatch?(sql: Sql, events: readonly StoredEvent[]): Promise<void>;
}

/** Applies `events` to `projection`: in one batch when it can, else one by one. */
export async function applyAll(sql: Sql, projection: Projection, events: readonly StoredEvent[]): Promise<void> {
  if (events.length === 0) return;
  if (projection.applyBatch) return projection.applyBatch(sql, events);
  for (const event of events) await projection.apply(sql, event);
}

/**
 * An event as a typed projection sees it: the envelope (sequence, stream, version, actor,
 * time, hashes), and the domain event decoded by its context's codec, old schema versions
 * upcast, discriminated by `type`. `data` is the clear part; the personal fields sealed when
 * stored stay sealed in `sealed` (a projection keeps them as they are, never opens them).
 */
export type ProjectedEvent<E extends DomainEvent> = Omit<StoredEvent, 'type' | 'data' | 'schemaVersion'> & E & { readonly sealed: string | null };

/**
 * A projection typed by the codecs of the events it reads: the events those codecs know are
 * decoded (upcast) and handed to `project`, every other event is skipped, so a read model
 * never casts `data`. An event its codec cannot read (a newer schema than this release
 * knows) fails for this projection alone: the runner quarantines it.
 */
export abstract class DecodedProjection<E extends DomainEvent> implements Projection {
  abstract readonly name: string;
  abstract readonly tables: readonly string[];
  private readonly codecs: readonly EventCodec<E>[];

  protected constructor(...codecs: readonly EventCodec<E>[]) {
    this.codecs = codecs;
  }

  /** Applies one decoded event (inside the runner's transaction). */
  protected abstract project(sql: Sql, event: ProjectedEvent<E>): Promise<void>;

  /**
   * Several decoded events at once, in global order; the final state must equal projecting
   * them one by one (which is what this default does).
   */
  protected async projectBatch(sql: Sql, events: readonly ProjectedEvent<E>[]): Promise<void> {
    for (const event of events) await this.project(sql, event);
  }

  async apply(sql: Sql, event: StoredEvent): Promise<void> {
    const decoded = this.decode(event);
    if (decoded) await this.project(sql, decoded);
  }

  async applyBatch(sql: Sql, events: readonly StoredEvent[]): Promise<void> {
    const decoded: ProjectedEvent<E>[] = [];
    for (const event of events) {
      const d = this.decode(event);
      if (d) decoded.push(d);
    }
    if (decoded.length > 0) await this.projectBatch(sql, decoded);
  }

  /** The event decoded by the codec that knows its type; undefined when none does. */
  private decode(event: StoredEvent): ProjectedEvent<E> | undefined {
    const codec = this.codecs.find((c) => c.knows(event.type));
    if (!codec) return undefined;
    const { type: _type, data: _data, schemaVersion, ...envelope } = event;
    const { data, sealed } = splitSealed(event.data);
    return { ...envelope, ...codec.decode({ type: event.type, schemaVersion, data }), sealed };
  }
}

/** A stored event's data without its sealed part, and that part (null when nothing is sealed). */
function splitSealed(data: unknown): { data: unknown; sealed: string | null } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { data, sealed: null };
  const { [SEALED_MEMBER]: sealed, ...clear } = data as Record<string, unknown>;
  return typeof sealed === 'string' ? { data: clear, sealed } : { data, sealed: null };
}
