/**
 * The decider pattern (after Emmett): an aggregate is `initialState`, `evolve(state, event)`
 * and `decide(command, state) → events`. Pure: no framework, no I/O, no clock; time and ids
 * come in with the command. A refusal is a thrown typed error (`@custos/errors`), so callers
 * and tests see one shape. The event store's command shell (`commandShell`) runs deciders;
 * `given/when/then` tests them (`@custos/testing`).
 */

/** A domain event as a decider sees it: readonly data, discriminated by `type`. */
export interface DomainEvent<TType extends string = string, TData = unknown> {
  readonly type: TType;
  readonly data: TData;
}

export interface Decider<State, Command, Event extends DomainEvent> {
  readonly initialState: State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): readonly Event[];
}

/** The state after `events`, from the decider's initial state. */
export function fold<State, Event extends DomainEvent>(decider: Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>, events: readonly Event[]): State {
  return events.reduce((s, e) => decider.evolve(s, e), decider.initialState);
}

/**
 * Which fields of each event type's data are personal, declared next to the event types: the
 * store seals them (one JWE under the patient's data key) and readers see them only where a
 * rule entitles them. Deciders never read a personal field in `evolve` (the command shell
 * folds sealed events), so erasure never changes what a decider decides.
 */
export type PersonalFields<E extends DomainEvent> = {
  readonly [K in E['type']]?: readonly (keyof Extract<E, { type: K }>['data'] & string)[];
};
