import { PURPOSES, Purpose } from '@custos/authz';
import type { Database, EventStore, StoredEvent } from '@custos/event-store';
import { ConsentDefaults, foldConsent } from './consent.decide.js';
import { ConsentChangedData, ConsentEvent, consentStreamId, ConsentWithdrawnData, DATA_CATEGORIES } from './consent.events.js';

export interface PurposeView {
  purpose: Purpose;
  status: 'granted' | 'denied';
  source: 'default' | 'explicit' | 'expired';
  categories: string[];
  expiresAt: string | null;
  recipients: string[];
  /** Stream version of the change that set it (0: the default). */
  version: number;
}

/** Reads of consent straight from the patient's stream (consent is small and must not lag). */
export class ConsentQueries {
  constructor(
    private readonly store: EventStore,
    private readonly db: Database,
    private readonly defaults: ConsentDefaults,
  ) {}

  async events(patientId: string): Promise<StoredEvent[]> {
    return this.store.readStream(consentStreamId(patientId));
  }

  async current(patientId: string, at: Date): Promise<{ patientId: string; version: number; purposes: PurposeView[] }> {
    const state = foldConsent((await this.events(patientId)) as unknown as ConsentEvent[]);
    const purposes = PURPOSES.map((purpose): PurposeView => {
      const explicit = state.purposes[purpose];
      if (!explicit) {
        const granted = this.defaults.granted.includes(purpose);
        return { purpose, status: granted ? 'granted' : 'denied', source: 'default', categories: granted ? [...DATA_CATEGORIES] : [], expiresAt: null, recipients: [], version: 0 };
      }
      const expired = explicit.status === 'granted' && explicit.expiresAt !== null && new Date(explicit.expiresAt).getTime() <= at.getTime();
      return {
        purpose,
        status: expired ? 'denied' : explicit.status,
        source: expired ? 'expired' : 'explicit',
        categories: [...explicit.categories],
        expiresAt: explicit.expiresAt,
        recipients: [...explicit.recipients],
        version: explicit.version,
      };
    });
    return { patientId, version: state.version, purposes };
  }

  async history(patientId: string): Promise<Array<Record<string, unknown>>> {
    return (await this.events(patientId)).map((e) => {
      const d = e.data as ConsentChangedData & ConsentWithdrawnData;
      return {
        version: e.version,
        eventId: e.eventId,
        sequence: e.globalSeq,
        occurredAt: e.occurredAt,
        change: e.type === 'ConsentWithdrawn' ? 'withdrawn' : d.status,
        purpose: d.purpose,
        ...(e.type === 'ConsentChanged' ? { categories: d.categories, expiresAt: d.expiresAt, recipients: d.recipients } : {}),
        channel: d.channel,
        ...(d.capturedBy ? { capturedBy: d.capturedBy } : {}),
        ...(d.evidenceRef ? { evidenceRef: d.evidenceRef } : {}),
        by: e.metadata.actor,
      };
    });
  }

  /** Patients whose AI_TRAINING consent was withdrawn after images of theirs entered the dataset. */
  async datasetWithdrawals(datasetId: string): Promise<Array<Record<string, unknown>>> {
    const rows = await this.db.query<{ patient_id: string; images: string[]; first_entered_seq: number | string; withdrawn_seq: number | string; withdrawn_at: Date | string }>(
      `SELECT i.patient_id, array_agg(DISTINCT i.image_id ORDER BY i.image_id) AS images, min(i.entered_seq) AS first_entered_seq,
              max(w.global_seq) AS withdrawn_seq, max(w.occurred_at) AS withdrawn_at
         FROM custos_rm_dataset_images i
         JOIN custos_rm_ai_training_withdrawals w ON w.patient_id = i.patient_id AND w.global_seq > i.entered_seq
        WHERE i.dataset_id = $1
        GROUP BY i.patient_id ORDER BY i.patient_id`,
      [datasetId],
    );
    return rows.map((r) => ({ patientId: r.patient_id, images: r.images, withdrawnAt: new Date(r.withdrawn_at).toISOString(), withdrawnSequence: Number(r.withdrawn_seq) }));
  }
}
