import { ConsentPort } from '@custos/access';
import type { Purpose } from '@custos/authz';
import type { EventStore } from '@custos/event-store';
import { consentAt, ConsentDefaults, foldConsent } from './consent.decide.js';
import { ConsentEvent, consentStreamId, DataCategory } from './consent.events.js';

/** The access decision's view of consent: the patient's consent stream, read at decision time. */
export class StoreConsent extends ConsentPort {
  constructor(
    private readonly store: EventStore,
    private readonly defaults: ConsentDefaults,
  ) {
    super();
  }

  async consentFor(patientId: string, purpose: Purpose, category: DataCategory, at: Date, recipients: readonly string[]): Promise<{ granted: boolean; version: number }> {
    const events = (await this.store.readStream(consentStreamId(patientId))) as unknown as ConsentEvent[];
    const { granted, version } = consentAt(foldConsent(events), this.defaults, purpose, category, at, recipients);
    return { granted, version };
  }
}
