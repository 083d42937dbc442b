import type { Decider, DomainEvent } from '@custos/decider';
import { CustosError } from '@custos/errors';

/**
 * given/when/then for pure deciders:
 *   given(consentDecider, [granted]).when(withdraw).then([withdrawn])
 *   given(consentDecider, []).when(withdraw).thenFails('nothing-to-withdraw')
 */
export function given<State, Command, E extends DomainEvent>(decider: Decider<State, Command, E>, history: readonly E[]) {
  const state = history.reduce((s, e) => decider.evolve(s, e), decider.initialState);
  return {
    when(command: Command) {
      const run = () => decider.decide(command, state);
      return {
        then(expected: readonly E[] | ((events: readonly E[]) => void)): void {
          const events = run();
          if (typeof expected === 'function') expected(events);
          else expect(events).toEqual(expected);
        },
        thenFails(code: string): void {
          let thrown: unknown;
          try {
            run();
          } catch (e) {
            thrown = e;
          }
          expect(thrown).toBeInstanceOf(CustosError);
          expect((thrown as CustosError).code).toBe(code);
        },
      };
    },
  };
}
