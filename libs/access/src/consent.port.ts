import type { ReadCondition } from '@custos/event-store';
import type { DataCategory, Purpose } from '@custos/vocabulary';

/** Who would receive the data, each id by its own type (a grant may be limited to any of them). */
export interface DataRequester {
  readonly user: string;
  readonly dataset?: string;
  readonly organization?: string;
}

export interface ConsentAnswer {
  /** The consent stream's version the answer reflects. */
  readonly version: number;
  /** Per category asked for: granted or not. */
  readonly granted: Partial<Record<DataCategory, boolean>>;
  /** Pins the append of the decision to that version (linearizable with consent). */
  readonly condition: ReadCondition;
}

/**
 * What an access decision needs to know of a patient's consent, read from the event store
 * at decision time (never from a lagging projection). The gateway wires the consent context
 * in; access does not depend on consent, nor consent on access.
 */
export abstract class ConsentPort {
  /** `fresh`: do not answer from a cache (the previous answer's condition failed). */
  abstract consentFor(patientId: string, purpose: Purpose, categories: readonly DataCategory[], at: Date, requester: DataRequester, options?: { fresh?: boolean }): Promise<ConsentAnswer>;
}
