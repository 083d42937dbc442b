import type { EventStore, ReadCondition } from '@custos/event-store';
import type { DataCategory, Purpose } from '@custos/vocabulary';
import { consentAt, type ConsentRules, type ConsentState, type EffectiveConsent, foldConsent, type Requester } from './domain/consent.decide.js';
import { consentStreamId } from './domain/consent.events.js';
import { consentCodec } from './consent.codec.js';

/**
 * A patient's consent read from their stream at the moment of asking (never from a lagging
 * projection), with the version read, so a decision can make its append conditional on it.
 */
export class ConsentReader {
  constructor(
    private readonly store: EventStore,
    readonly rules: ConsentRules,
  ) {}

  async state(patientId: string): Promise<ConsentState> {
    return foldConsent((await this.store.readStream(consentStreamId(patientId))).map((e) => consentCodec.decode(e)));
  }

  /** The consent for `purpose` per category, one stream read for all, and the condition that pins it. */
  async effective(patientId: string, purpose: Purpose, categories: readonly DataCategory[], at: Date, who: Requester): Promise<{ condition: ReadCondition; byCategory: Partial<Record<DataCategory, EffectiveConsent>> }> {
    const state = await this.state(patientId);
    const byCategory: Partial<Record<DataCategory, EffectiveConsent>> = {};
    for (const c of categories) byCategory[c] = consentAt(state, this.rules, purpose, c, at, who);
    return { condition: { streamId: consentStreamId(patientId), version: state.version }, byCategory };
  }
}
