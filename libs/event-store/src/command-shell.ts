import { ConcurrencyError } from '@custos/errors';
import { fold, type Decider, type DomainEvent } from '@custos/decider';
import type { Actor, AppendRequest, AppendResult, EventMetadata, ReadCondition, StoredEvent } from './envelope.js';
import type { EventCodec } from './event-codec.js';
import type { EventStore } from './event-store.js';

/** Who issues a command and in which request: what every event's metadata records. */
export interface CommandContext {
  readonly actor: Actor;
  readonly correlationId: string;
  readonly causationId?: string;
}

/**
 * Which conflicts mean "decide again on fresh input", and how often: a decision whose read
 * condition moved (the consent it read changed) is made again; any other conflict propagates.
 */
export interface RetryPolicy {
  readonly when: (conflict: ConcurrencyError) => boolean;
  /** Attempts in all, the first included (at least 1). */
  readonly attempts: number;
}

/** The conflict a moved read condition raises (the stream read but not written changed). */
export const conditionFailed = (e: ConcurrencyError): boolean => e.code === 'condition-failed';

/** One attempt's input: the command, and the streams read for it that must not move before the commit. */
export interface Attempt<Command> {
  readonly command: Command;
  readonly conditions?: readonly ReadCondition[];
}

/**
 * A command, or how to make one for attempt `n` (1-based): what a retried decision reads
 * afresh (consent after a failed condition) is read inside it.
 */
export type CommandInput<Command> = Command | ((attempt: number) => Promise<Attempt<Command>>);

export interface HandleOptions {
  /** When it happens (deciders never read the clock): the shell's clock unless the command carries its own time. */
  readonly now?: Date;
  /**
   * `undefined`: the version read is the one the append expects (a concurrent writer makes it
   * a 409); a number: the client's If-Match, checked against the version read; `no-stream`:
   * the stream must not exist (nothing to read: the append checks it); `any`: the stream is
   * not read at all (append-only streams such as a patient's access trail, where the decider
   * needs no history).
   */
  readonly expectedVersion?: number | 'no-stream' | 'any';
  /** The patient the events are about (metadata, and the Kafka key). */
  readonly patientId?: string | null;
  /** Streams read but not written that must not move before the commit. */
  readonly conditions?: readonly ReadCondition[];
  /** Overrides the shell's retry policy for this call. */
  readonly retry?: RetryPolicy;
  /**
   * Appended in the same transaction, before the decided events, even when the decider
   * decides nothing (the sentinel's detection with the incident event it opens or joins);
   * a conflict on one of them is a ConcurrencyError naming its stream.
   */
  readonly alongside?: readonly AppendRequest[];
}

/** A decided event as recorded: the domain event (typed, personal fields in clear, as decided) and its place in the log. */
export type Recorded<E extends DomainEvent> = E & {
  readonly eventId: string;
  readonly streamId: string;
  readonly version: number;
  readonly globalSeq: number;
  readonly hash: string;
  /** The envelope as stored (personal fields sealed): for receipts and anything that hashes or publishes it. */
  readonly stored: StoredEvent;
};

export interface Handled<State, E extends DomainEvent> {
  readonly state: State;
  readonly events: readonly Recorded<E>[];
  /** The stream's version after the command. */
  readonly version: number;
}

export interface CommandShell<State, Command, E extends DomainEvent> {
  /**
   * Load the stream and decode it (upcasting old schema versions), fold it with the decider,
   * check the expected version, decide, encode, and append at the version read, with the
   * actor and correlation id in the metadata. A refusal is the decider's typed error; a
   * concurrent writer is a ConcurrencyError (409), unless the retry policy takes it.
   */
  handle(streamId: string, command: CommandInput<Command>, context: CommandContext, options?: HandleOptions): Promise<Handled<State, E>>;
}

export interface ShellBinding<State, Command, E extends DomainEvent> {
  readonly store: EventStore;
  readonly decider: Decider<State, Command, E>;
  readonly codec: EventCodec<E>;
  readonly clock: { now(): Date };
  /** The context's default; none: a conflict is the caller's 409. */
  readonly retry?: RetryPolicy;
}

export function metadataFor(context: CommandContext, patientId?: string | null): EventMetadata {
  return {
    actor: context.actor,
    correlationId: context.correlationId,
    ...(context.causationId ? { causationId: context.causationId } : {}),
    ...(patientId ? { patientId } : {}),
  };
}

/**
 * The one command shell, bound once per context to its decider, codec, clock and retry
 * policy (after Emmett's `CommandHandler`): callers get the new state, the version and the
 * decided events typed, never `e.data as X`.
 */
export function commandShell<State, Command, E extends DomainEvent>(binding: ShellBinding<State, Command, E>): CommandShell<State, Command, E> {
  const { store, decider, codec, clock } = binding;

  async function once(streamId: string, input: Attempt<Command>, context: CommandContext, options: HandleOptions, now: Date): Promise<Handled<State, E>> {
    const reads = options.expectedVersion !== 'any' && options.expectedVersion !== 'no-stream';
    const stored = reads ? await store.readStream(streamId) : [];
    const state = fold(decider, stored.map((e) => codec.decode(e)));
    const version = stored.length > 0 ? (stored[stored.length - 1] as StoredEvent).version : 0;
    const expected = options.expectedVersion;
    if (typeof expected === 'number' && expected !== version) throw new ConcurrencyError(streamId, expected, version);
    const events = decider.decide(input.command, state);
    const alongside = options.alongside ?? [];
    if (events.length === 0 && alongside.length === 0) return { state, events: [], version };
    const metadata = metadataFor(context, options.patientId);
    const conditions = input.conditions ?? options.conditions;
    const own: AppendRequest = {
      streamId,
      events: events.map((e) => ({ ...codec.encode(e), metadata, occurredAt: now })),
      // 'no-stream' is checked by the append (0: what a read of no stream would have expected).
      expectedVersion: reads ? version : expected === 'no-stream' ? 0 : 'any',
      ...(conditions ? { conditions } : {}),
    };
    if (events.length === 0) {
      await store.appendBatch(alongside);
      return { state, events: [], version };
    }
    const result =
      alongside.length === 0
        ? await store.append(streamId, own.events, { expectedVersion: own.expectedVersion, ...(conditions ? { conditions } : {}) })
        : ((await store.appendBatch([...alongside, own])).at(-1) as AppendResult);
    const recorded = events.map((e, i): Recorded<E> => {
      const s = result.events[i] as StoredEvent;
      return { ...e, eventId: s.eventId, streamId: s.streamId, version: s.version, globalSeq: s.globalSeq, hash: s.hash, stored: s };
    });
    return { state: events.reduce((s, e) => decider.evolve(s, e), state), events: recorded, version: result.nextExpectedVersion };
  }

  return {
    async handle(streamId, command, context, options = {}) {
      const now = options.now ?? clock.now();
      const retry = options.retry ?? binding.retry;
      const attempts = Math.max(1, retry?.attempts ?? 1);
      for (let attempt = 1; ; attempt++) {
        try {
          // Commands are data, never functions: a function is how to make one per attempt.
          const input: Attempt<Command> = typeof command === 'function' ? await (command as (n: number) => Promise<Attempt<Command>>)(attempt) : { command };
          return await once(streamId, input, context, options, now);
        } catch (e) {
          if (!(e instanceof ConcurrencyError) || !retry?.when(e) || attempt >= attempts) throw e;
        }
      }
    },
  };
}
