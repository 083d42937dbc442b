import type { Decider } from '@custos/decider';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
import { sameActor, visibleLength } from '@custos/vocabulary';
import type { EvidenceRef } from './incident.events.js';
import type { FindingRaisedData, FindingRuleId } from './findings.js';

/** A finding's life: stewards acknowledge it, resolve it, or open it again, each time with a note. */
export const FINDING_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type FindingState = (typeof FINDING_STATES)[number];

export const FINDING_TRANSITIONS: Readonly<Record<FindingState, readonly FindingState[]>> = {
  open: ['acknowledged'],
  acknowledged: ['resolved', 'open'],
  resolved: ['open'],
};

/** The most characters a steward's note may hold. */
export const FINDING_NOTE_MAX = 4000;

export interface FindingTransitionedData {
  readonly findingId: string;
  readonly from: FindingState;
  readonly to: FindingState;
  readonly note: string;
  readonly by: string;
  readonly at: string;
}

export type FindingRaised = { readonly type: 'FindingRaised'; readonly data: FindingRaisedData };
export type FindingTransitioned = { readonly type: 'FindingTransitioned'; readonly data: FindingTransitionedData };
export type FindingEvent = FindingRaised | FindingTransitioned;

export interface FindingView {
  readonly findingId: string;
  readonly rule: FindingRuleId;
  readonly ruleVersion: number;
  readonly datasetId: string | null;
  readonly modelId: string | null;
  readonly summary: string;
  readonly facts: Readonly<Record<string, unknown>>;
  readonly evidence: readonly EvidenceRef[];
  /** Whose own actions it is about: they may not move it on (separation of duties). */
  readonly actors: readonly string[];
  readonly state: FindingState;
  readonly raisedAt: string;
  readonly updatedAt: string;
  readonly history: readonly { readonly from: FindingState; readonly to: FindingState; readonly note: string; readonly by: string; readonly at: string }[];
}

export type RaiseFinding = { readonly type: 'RaiseFinding'; readonly finding: FindingRaisedData };
export type TransitionFinding = { readonly type: 'TransitionFinding'; readonly to: FindingState; readonly note: string; readonly by: string; readonly at: string };
export type FindingCommand = RaiseFinding | TransitionFinding;

/** Printable text of bounded length that says something: at least one character a reader can see. */
function checkNote(note: unknown): string {
  if (typeof note !== 'string' || visibleLength(note) === 0) throw new ValidationError('a note is required: what was done or decided', { field: 'note' }, 'note-required');
  if (note.length > FINDING_NOTE_MAX) throw new ValidationError(`a note holds at most ${FINDING_NOTE_MAX} characters`, { field: 'note' }, 'note-too-long');
  return note;
}

export const findingDecider: Decider<FindingView | null, FindingCommand, FindingEvent> = {
  initialState: null,
  evolve(state, event) {
    if (event.type === 'FindingRaised') {
      const d = event.data;
      return {
        findingId: d.findingId,
        rule: d.rule,
        ruleVersion: d.ruleVersion,
        datasetId: d.datasetId ?? null,
        modelId: d.modelId ?? null,
        summary: d.summary,
        facts: d.facts,
        evidence: d.evidence,
        actors: d.actors ?? [],
        state: 'open',
        raisedAt: d.at,
        updatedAt: d.at,
        history: [],
      };
    }
    if (!state) return state;
    const d = event.data;
    return { ...state, state: d.to, updatedAt: d.at, history: [...state.history, { from: d.from, to: d.to, note: d.note, by: d.by, at: d.at }] };
  },
  decide(command, state) {
    if (command.type === 'RaiseFinding') {
      // Raised once: the stream is appended as 'no-stream', and a replay finds it there.
      if (state) return [];
      return [{ type: 'FindingRaised', data: command.finding }];
    }
    if (!(FINDING_STATES as readonly string[]).includes(command.to)) throw new ValidationError(`to must be one of ${FINDING_STATES.join(', ')}`, { field: 'to' }, 'bad-state');
    const note = checkNote(command.note);
    if (!state) throw new NotFoundError('no such finding', undefined, 'finding-not-found');
    // Separation of duties: nobody acknowledges, resolves or reopens a finding about their own action.
    if (state.actors.some((a) => sameActor(a, command.by))) {
      throw new ForbiddenError('a finding about your own action is handled by another steward', { findingId: state.findingId }, 'separation-of-duties');
    }
    const allowed = FINDING_TRANSITIONS[state.state];
    if (!allowed.includes(command.to)) {
      throw new ConflictError(`a finding ${state.state} cannot become ${command.to}: ${allowed.join(' or ')} only`, { from: state.state, to: command.to, allowed }, 'illegal-transition');
    }
    return [{ type: 'FindingTransitioned', data: { findingId: state.findingId, from: state.state, to: command.to, note, by: command.by, at: command.at } }];
  },
};
