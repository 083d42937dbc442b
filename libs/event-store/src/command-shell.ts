import { ConcurrencyError } from '@custos/errors';
import { fold, type Decider, type DomainEvent } from '@custos/decider';
import type { Actor, EventMetadata, ReadCondition, StoredEvent } from './envelope.js';
import type { EventCodec } from './event-codec.js';
import type { EventStore } from './event-store.js';

/** Who issues a command and in which request: what every event's metadata records. */
export interface CommandContext {
  readonly actor: Actor;
  readonly correlationId: string;
  readonly causationId?: string;
}

export interface HandleOptions<E extends DomainEvent> {
  readonly codec: EventCodec<E>;
  /** When it happens (deciders never read the clock). */
  readonly now: Date;
  /**
   * `undefined`: the version read is the one the append expects (a concurrent writer makes it
   * a 409); a number: the client's If-Match, checked against the version read; `no-stream`:
   * the stream must not exist; `any`: the stream is not read at all (append-only streams such
   * as a patient's access trail, where the decider needs no history).
   */
  readonly expectedVersion?: number | 'no-stream' | 'any';
  /** The patient the events are about (metadata, and the Kafka key). */
  readonly patientId?: string | null;
  /** Streams read but not written that must not move before the commit. */
  readonly conditions?: readonly ReadCondition[];
}

export interface Handled<State> {
  readonly state: State;
  readonly events: readonly StoredEvent[];
  /** The stream's version after the command. */
  readonly version: number;
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
 * The one command shell every context uses: load the stream and decode it (upcasting old
 * schema versions), fold it with the decider, check the expected version, decide, encode, and
 * append at the version read, with the actor and correlation id in the metadata. A refusal is
 * the decider's typed error; a concurrent writer is a ConcurrencyError (409).
 */
export async function handle<State, Command, E extends DomainEvent>(
  store: EventStore,
  streamId: string,
  decider: Decider<State, Command, E>,
  command: Command,
  context: CommandContext,
  options: HandleOptions<E>,
): Promise<Handled<State>> {
  const reads = options.expectedVersion !== 'any';
  const stored = reads ? await store.readStream(streamId) : [];
  const state = fold(decider, stored.map((e) => options.codec.decode(e)));
  const version = stored.length > 0 ? (stored[stored.length - 1] as StoredEvent).version : 0;
  const expected = options.expectedVersion === 'no-stream' ? 0 : options.expectedVersion;
  if (typeof expected === 'number' && expected !== version) throw new ConcurrencyError(streamId, expected, version);
  const events = decider.decide(command, state);
  if (events.length === 0) return { state, events: [], version };
  const metadata = metadataFor(context, options.patientId);
  const result = await store.append(
    streamId,
    events.map((e) => ({ ...options.codec.encode(e), metadata, occurredAt: options.now })),
    { expectedVersion: reads ? version : 'any', ...(options.conditions ? { conditions: options.conditions } : {}) },
  );
  return { state: events.reduce((s, e) => decider.evolve(s, e), state), events: result.events, version: result.nextExpectedVersion };
}

/**
 * Runs `attempt` again (up to `attempts` times) while it fails with a ConcurrencyError that
 * `retry` accepts: a decision whose read condition moved is made again on fresh input.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>, retry: (e: ConcurrencyError) => boolean, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof ConcurrencyError) || !retry(e) || i >= attempts) throw e;
    }
  }
}
