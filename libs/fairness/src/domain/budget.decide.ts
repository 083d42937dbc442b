import type { Decider } from '@custos/decider';
import { ForbiddenError } from '@custos/errors';
import { epsilonText } from '@custos/vocabulary';
import type { BalanceReleased, BalanceReleasedData } from './privacy.events.js';

/**
 * A dataset's privacy budget, the fold of its privacy stream: micro-epsilon spent per
 * requester and in all (sequential composition: an exact sum of integers). A release is
 * recorded only if neither cap it carries would be exceeded; the append is conditional on the
 * version read, so two releases racing for the last of a budget cannot both pass.
 */
export interface BudgetState {
  readonly spentBy: Readonly<Record<string, number>>;
  readonly spent: number;
  readonly releases: number;
}

export type Release = { readonly type: 'Release'; readonly release: BalanceReleasedData };

/** What is left to a requester on a dataset and to the dataset, micro-epsilon (never negative). */
export function remainingOf(state: BudgetState, requester: string, caps: { readonly perRequester: number; readonly perDataset: number }): { requester: number; dataset: number } {
  return {
    requester: Math.max(0, caps.perRequester - (state.spentBy[requester] ?? 0)),
    dataset: Math.max(0, caps.perDataset - state.spent),
  };
}

export const budgetDecider: Decider<BudgetState, Release, BalanceReleased> = {
  initialState: { spentBy: {}, spent: 0, releases: 0 },
  evolve: (state, event) => {
    const { requester, epsilonMicros } = event.data;
    return {
      spentBy: { ...state.spentBy, [requester]: (state.spentBy[requester] ?? 0) + epsilonMicros },
      spent: state.spent + epsilonMicros,
      releases: state.releases + 1,
    };
  },
  decide(command, state) {
    const r = command.release;
    const left = remainingOf(state, r.requester, r.caps);
    if (r.epsilonMicros > left.requester || r.epsilonMicros > left.dataset) {
      throw new ForbiddenError(
        `this release would spend ε ${epsilonText(r.epsilonMicros)}; the budget left is ε ${epsilonText(left.requester)} for you and ε ${epsilonText(left.dataset)} for the dataset`,
        { requested: epsilonText(r.epsilonMicros), remaining: { requester: epsilonText(left.requester), dataset: epsilonText(left.dataset) } },
        'privacy-budget-exhausted',
      );
    }
    return [{ type: 'BalanceReleased', data: r }];
  },
};
