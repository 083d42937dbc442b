/**
 * The one envelope every Custos event travels in: stored in Postgres, published to Kafka,
 * fed to projections. Events are readonly data, never classes; the wire name is `type`.
 */
export interface Actor {
  readonly id: string;
  readonly roles: readonly string[];
  /** For a patient acting on their own behalf: which patient (a decision's re-derivation needs it). */
  readonly patientId?: string;
  /** The organisation the actor acts for, where the identity names one. */
  readonly org?: string;
}

export interface EventMetadata {
  readonly actor: Actor;
  readonly correlationId: string;
  readonly causationId?: string;
  /** The patient the event is about, where there is one: the Kafka key, so one patient's events stay ordered. */
  readonly patientId?: string;
}

/** What a decider produces: an event not yet stored. */
export interface NewEvent<TType extends string = string, TData = unknown> {
  readonly type: TType;
  readonly schemaVersion: number;
  readonly data: TData;
  readonly metadata: EventMetadata;
  /** When it happened, from the command (deciders never read the clock). */
  readonly occurredAt: Date;
}

/** An event as stored: position in its stream and in the global log, and its place in the hash chain. */
export interface StoredEvent<TType extends string = string, TData = unknown> {
  readonly eventId: string;
  readonly streamId: string;
  /** 1-based version within the stream: the first event of a stream is version 1. */
  readonly version: number;
  /** 0-based dense position in the global log (commit order, no gaps). */
  readonly globalSeq: number;
  readonly type: TType;
  readonly schemaVersion: number;
  readonly data: TData;
  readonly metadata: EventMetadata;
  /** ISO-8601 with milliseconds, UTC. */
  readonly occurredAt: string;
  readonly prevHash: string;
  /**
   * The hash of the previous event of the same stream (GENESIS for a stream's first): the
   * stream chain, covered by `hash`. Absent on events written before stream chains.
   */
  readonly streamPrevHash?: string;
  readonly hash: string;
}

/**
 * Expected version for optimistic concurrency: a number is the stream's current version
 * (0 = the stream must not exist yet), `no-stream` the same as 0, `any` skips the check.
 */
export type ExpectedVersion = number | 'no-stream' | 'any';

/**
 * A stream the append reads but does not write: its version must still be `version` when the
 * append commits (checked under the chain-head lock), else the append fails with a
 * ConcurrencyError (code `condition-failed`). Decisions use it to stay linearizable with the
 * consent they read.
 */
export interface ReadCondition {
  readonly streamId: string;
  readonly version: number;
}

export interface AppendRequest {
  readonly streamId: string;
  readonly events: readonly NewEvent[];
  readonly expectedVersion: ExpectedVersion;
  readonly conditions?: readonly ReadCondition[];
}

export interface AppendResult {
  readonly streamId: string;
  /** The stream's version after the append: pass it as expectedVersion next time. */
  readonly nextExpectedVersion: number;
  readonly events: readonly StoredEvent[];
}

/**
 * The member of a stored event's data that holds its personal fields, sealed (one compact JWE,
 * written by the store's `EventSealer`, opened by `@custos/keys`). Everything else in `data`
 * is in clear.
 */
export const SEALED_MEMBER = 'sealed';
