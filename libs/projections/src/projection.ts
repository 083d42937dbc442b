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
}
