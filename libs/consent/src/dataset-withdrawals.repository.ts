import type { Sql } from '@custos/event-store';
import { imageCodec, type ImageEvent } from '@custos/imaging';
import { DecodedProjection, type ProjectedEvent } from '@custos/projections';
import { consentCodec } from './consent.codec.js';
import type { ConsentEvent } from './domain/consent.events.js';

/** The two tables of the dataset-withdrawals read model; their SQL is here and nowhere else. */
interface WithdrawalRow {
  patient_id: string;
  images: string[];
  withdrawn_seq: number | string;
  withdrawn_at: Date | string;
}

export interface DatasetWithdrawal {
  patientId: string;
  images: string[];
  withdrawnAt: string;
  withdrawnSequence: number;
}

/**
 * Which images entered which dataset (ImageRegistered) and when patients withdrew AI_TRAINING
 * consent (a withdrawal, or a change to denied). The query joins them: withdrawn after their
 * images entered. Both tables are keyed by event, so arrival order does not matter.
 */
export class DatasetWithdrawalsProjection extends DecodedProjection<ImageEvent | ConsentEvent> {
  readonly name = 'dataset-withdrawals';
  readonly tables = ['custos_rm_dataset_images', 'custos_rm_ai_training_withdrawals'];

  constructor() {
    super(imageCodec, consentCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<ImageEvent | ConsentEvent>): Promise<void> {
    if (e.type === 'ImageRegistered') {
      const d = e.data;
      await sql.execute(
        'INSERT INTO custos_rm_dataset_images (image_id, dataset_id, patient_id, entered_seq) VALUES ($1, $2, $3, $4) ON CONFLICT (image_id) DO NOTHING',
        [d.imageId, d.datasetId, d.patientId, e.globalSeq],
      );
    } else {
      if (e.data.purpose !== 'AI_TRAINING' || (e.type === 'ConsentChanged' && e.data.status !== 'denied')) return;
      await sql.execute('INSERT INTO custos_rm_ai_training_withdrawals (global_seq, patient_id, occurred_at) VALUES ($1, $2, $3) ON CONFLICT (global_seq) DO NOTHING', [e.globalSeq, e.data.patientId, e.occurredAt]);
    }
  }
}

/** Patients whose AI_TRAINING consent was withdrawn after images of theirs entered the dataset. */
export async function datasetWithdrawals(sql: Sql, datasetId: string): Promise<DatasetWithdrawal[]> {
  const rows = await sql.query<WithdrawalRow>(
    `SELECT i.patient_id, array_agg(DISTINCT i.image_id ORDER BY i.image_id) AS images,
            max(w.global_seq) AS withdrawn_seq, max(w.occurred_at) AS withdrawn_at
       FROM custos_rm_dataset_images i
       JOIN custos_rm_ai_training_withdrawals w ON w.patient_id = i.patient_id AND w.global_seq > i.entered_seq
      WHERE i.dataset_id = $1
      GROUP BY i.patient_id ORDER BY i.patient_id`,
    [datasetId],
  );
  return rows.map((r) => ({ patientId: r.patient_id, images: r.images, withdrawnAt: new Date(r.withdrawn_at).toISOString(), withdrawnSequence: Number(r.withdrawn_seq) }));
}

/** The patients (distinct, sorted) whose images these are. */
export async function patientsOfImages(sql: Sql, imageIds: readonly string[]): Promise<string[]> {
  if (imageIds.length === 0) return [];
  const rows = await sql.query<{ patient_id: string }>('SELECT DISTINCT patient_id FROM custos_rm_dataset_images WHERE image_id = ANY($1::text[]) ORDER BY patient_id', [[...imageIds]]);
  return rows.map((r) => r.patient_id);
}
