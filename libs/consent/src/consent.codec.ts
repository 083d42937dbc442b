import { eventCodec } from '@custos/event-store';
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
