import type { EventStore, ReadCondition } from '@custos/event-store';
import type { DataCategory, Purpose } from '@custos/vocabulary';
import { consentAt, type ConsentRules, type ConsentState, type EffectiveConsent, foldConsent, type Requester } from './domain/consent.decide.js';
import { consentStreamId, type Recipient } from './domain/consent.events.js';
import { consentCodec } from './consent.codec.js';

/** Consent for one purpose as a patient or an auditor is shown it (the current consent read, FHIR Consent). */
export interface PurposeView {
  purpose: Purpose;
  status: 'granted' | 'denied';
  source: 'default' | 'explicit' | 'expired' | 'not-restrictable';
  /** Whether patients may change this purpose in this deployment. */
  restrictable: boolean;
  categories: string[];
  expiresAt: string | null;
  recipients: Recipient[];
  /** Stream version of the change that set it (0: the default). */
  version: number;
}

/**
 * A patient's consent read from their stream (never from a lagging projection), with the
 * version read, so a decision can make its append conditional on it.
 *
 * Decisions use a per-patient cache that is validated, not trusted: the state kept is the
 * stream folded at some version, and the decision's append is conditional on the stream
 * still being at that version (checked under the chain-head lock). If a consent change
 * landed meanwhile, here or in another process, the append fails its condition and the
 * decision is made again on a fresh read. So the cache saves a read per decision and can
 * never make a decision cite a consent that was not current at its position.
 */
export class ConsentReader {
  private readonly cache = new Map<string, ConsentState>();

  constructor(
    private readonly store: EventStore,
    readonly rules: ConsentRules,
    private readonly maxCached = 100_000,
  ) {}

  /** The stream as it is now (always read: what a patient or an auditor is shown). */
  async state(patientId: string): Promise<ConsentState> {
    const state = foldConsent((await this.store.readStream(consentStreamId(patientId))).map((e) => consentCodec.decode(e)));
    this.remember(patientId, state);
    return state;
  }

  /** A consent change was written here: the next decision reads afresh (saves it a failed condition). */
  forget(patientId: string): void {
    this.cache.delete(patientId);
  }

  /**
   * The consent for `purpose` per category, one state for all, and the condition that pins
   * it. `fresh`: read the stream even if a state is cached (a retry after a failed condition).
   */
  async effective(
    patientId: string,
    purpose: Purpose,
    categories: readonly DataCategory[],
    at: Date,
    who: Requester,
    options: { fresh?: boolean } = {},
  ): Promise<{ condition: ReadCondition; byCategory: Partial<Record<DataCategory, EffectiveConsent>> }> {
    const cached = options.fresh ? undefined : this.cache.get(patientId);
    const state = cached ?? (await this.state(patientId));
    const byCategory: Partial<Record<DataCategory, EffectiveConsent>> = {};
    for (const c of categories) byCategory[c] = consentAt(state, this.rules, purpose, c, at, who);
    return { condition: { streamId: consentStreamId(patientId), version: state.version }, byCategory };
  }

  private remember(patientId: string, state: ConsentState): void {
    this.cache.delete(patientId); // re-inserted last: the Map's order is the eviction order
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(patientId, state);
  }
}
