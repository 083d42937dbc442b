import type { Database, EventStore, StoredEvent } from '@custos/event-store';
import type { PayloadCipher } from '@custos/keys';
import { DATA_CATEGORIES, PURPOSES, type Purpose } from '@custos/vocabulary';
import type { ConsentRules } from './domain/consent.decide.js';
import { consentStreamId, type Recipient } from './domain/consent.events.js';
import { consentCodec } from './consent.codec.js';
import { ConsentReader } from './consent-reader.js';
import { datasetWithdrawals, type DatasetWithdrawal } from './dataset-withdrawals.repository.js';

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

/** Reads of consent straight from the patient's stream (consent is small and must not lag). */
export class ConsentQueries {
  private readonly rules: ConsentRules;

  constructor(
    private readonly store: EventStore,
    private readonly db: Database,
    private readonly reader: ConsentReader,
    private readonly cipher?: PayloadCipher,
  ) {
    this.rules = reader.rules;
  }

  events(patientId: string): Promise<StoredEvent[]> {
    return this.store.readStream(consentStreamId(patientId));
  }

  async current(patientId: string, at: Date): Promise<{ patientId: string; version: number; purposes: PurposeView[] }> {
    const state = await this.reader.state(patientId);
    const purposes = PURPOSES.map((purpose): PurposeView => {
      const restrictable = this.rules.restrictable.includes(purpose);
      const explicit = state.purposes[purpose];
      if (!restrictable) return { purpose, status: 'granted', source: 'not-restrictable', restrictable, categories: [...DATA_CATEGORIES], expiresAt: null, recipients: [], version: 0 };
      if (!explicit) {
        const granted = this.rules.defaultGranted.includes(purpose);
        return { purpose, status: granted ? 'granted' : 'denied', source: 'default', restrictable, categories: granted ? [...DATA_CATEGORIES] : [], expiresAt: null, recipients: [], version: 0 };
      }
      const expired = explicit.status === 'granted' && explicit.expiresAt !== null && new Date(explicit.expiresAt).getTime() <= at.getTime();
      return {
        purpose,
        status: expired ? 'denied' : explicit.status,
        source: expired ? 'expired' : 'explicit',
        restrictable,
        categories: [...explicit.categories],
        expiresAt: explicit.expiresAt,
        recipients: [...explicit.recipients],
        version: explicit.version,
      };
    });
    return { patientId, version: state.version, purposes };
  }

  /** Every change, oldest first; personal fields in clear only where `allowed` says the reader may see them. */
  async history(patientId: string, allowed: (field: string) => boolean = () => false): Promise<Array<Record<string, unknown>>> {
    const events = await this.events(patientId);
    const shown = this.cipher ? await Promise.all(events.map((e) => (this.cipher as PayloadCipher).reveal(e, allowed))) : events;
    return shown.map((e) => {
      const decoded = consentCodec.decode(e);
      const d = decoded.data;
      return {
        version: e.version,
        eventId: e.eventId,
        sequence: e.globalSeq,
        occurredAt: e.occurredAt,
        change: decoded.type === 'ConsentWithdrawn' ? 'withdrawn' : decoded.data.status,
        purpose: d.purpose,
        ...(decoded.type === 'ConsentChanged' ? { categories: decoded.data.categories, expiresAt: decoded.data.expiresAt, recipients: decoded.data.recipients } : {}),
        channel: d.channel,
        ...(d.capturedBy ? { capturedBy: d.capturedBy } : {}),
        ...(d.evidenceRef !== undefined ? { evidenceRef: d.evidenceRef } : {}),
        by: { id: e.metadata.actor.id, roles: e.metadata.actor.roles },
      };
    });
  }

  datasetWithdrawals(datasetId: string): Promise<DatasetWithdrawal[]> {
    return datasetWithdrawals(this.db, datasetId);
  }
}
