import type { Sql, StoredEvent } from '@custos/event-store';

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
