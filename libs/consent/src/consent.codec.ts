import { commandShell, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { consentDecider } from './domain/consent.decide.js';
import type { ConsentEvent } from './domain/consent.events.js';

/**
 * ConsentChanged v1 held recipients as bare ids ("organisations or dataset ids"): ambiguous,
 * and a researcher whose user id equalled a dataset id met the grant. v2 types them. A v1 id
 * reads as a dataset, the use v1's API described and its tests made.
 */
export const consentCodec = eventCodec<ConsentEvent>({
  ConsentChanged: {
    version: 2,
    upcast: {
      1: (data) => {
        const d = data as { recipients?: unknown[] };
        return { ...d, recipients: (d.recipients ?? []).map((r) => (typeof r === 'string' ? { type: 'dataset', id: r } : r)) };
      },
    },
  },
  ConsentWithdrawn: { version: 1 },
});

/** The consent stream's command shell: its decider and codec, on the store and clock given. */
export const consentShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: consentDecider, codec: consentCodec });
