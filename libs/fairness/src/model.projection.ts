import type { Sql } from '@custos/event-store';
import { DecodedProjection, type ProjectedEvent } from '@custos/projections';
import type { ModelEvent } from './domain/model.events.js';
import { modelCodec } from './model.codec.js';

/** One registered model as listed (the card reads its stream). */
export interface ModelListing {
  readonly modelId: string;
  readonly name: string;
  readonly version: string;
  readonly developer: string;
  readonly registeredAt: string;
  readonly registeredSequence: number;
  readonly evaluations: number;
  /** Evaluations with at least one flagged gap. */
  readonly flaggedEvaluations: number;
}

/** A model that used some of a dataset's snapshots, and which (trained or validated on). */
export interface ModelOnSnapshots {
  readonly modelId: string;
  readonly name: string;
  readonly version: string;
  readonly trainedOn: string[];
  readonly validatedOn: string[];
}

/**
 * The models read model: every registered model version with its evaluation counts, and the
 * snapshots it was trained and validated on (for the list, and for the consent-withdrawals
 * view: which models learned from a withdrawn patient's images). Keyed by event, so a replay
 * reaches the same rows.
 */
export class ModelsProjection extends DecodedProjection<ModelEvent> {
  readonly name = 'models';
  readonly tables = ['custos_rm_models', 'custos_rm_model_snapshots'];

  constructor() {
    super(modelCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<ModelEvent>): Promise<void> {
    if (e.type === 'ModelRegistered') {
      const d = e.data;
      await sql.execute(
        `INSERT INTO custos_rm_models (model_id, name, version, developer, registered_at, registered_seq, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (model_id) DO NOTHING`,
        [d.modelId, d.name, d.version, d.developer, e.occurredAt, e.globalSeq],
      );
      const rows = [...d.trainedOn.map((s) => ({ s, role: 'trained' })), ...d.validatedOn.map((s) => ({ s, role: 'validated' }))];
      if (rows.length === 0) return;
      await sql.execute(
        `INSERT INTO custos_rm_model_snapshots (model_id, dataset_id, snapshot_id, role)
         SELECT $1, unnest($2::text[]), unnest($3::text[]), unnest($4::text[]) ON CONFLICT DO NOTHING`,
        [d.modelId, rows.map((r) => r.s.datasetId), rows.map((r) => r.s.snapshotId), rows.map((r) => r.role)],
      );
    } else {
      await sql.execute(
        'UPDATE custos_rm_models SET evaluations = evaluations + 1, flagged = flagged + $2, last_seq = $3 WHERE model_id = $1 AND last_seq < $3',
        [e.data.modelId, e.data.flagged.length > 0 ? 1 : 0, e.globalSeq],
      );
    }
  }
}

interface ModelRow {
  model_id: string;
  name: string;
  version: string;
  developer: string;
  registered_at: Date | string;
  registered_seq: number | string;
  evaluations: number | string;
  flagged: number | string;
}

/**
 * Registered models in the order they were registered, `limit` after sequence `after`; only
 * those `developer` registered when one is given (compared as sameActor does: NFKC, lower case).
 */
export async function listModels(sql: Sql, limit: number, after: number, developer: string | null = null): Promise<ModelListing[]> {
  const rows = await sql.query<ModelRow>(
    `SELECT model_id, name, version, developer, registered_at, registered_seq, evaluations, flagged FROM custos_rm_models
      WHERE registered_seq > $1 AND ($3::text IS NULL OR lower(normalize(developer, NFKC)) = $3) ORDER BY registered_seq LIMIT $2`,
    [after, limit, developer === null ? null : developer.normalize('NFKC').toLowerCase()],
  );
  return rows.map((r) => ({
    modelId: r.model_id,
    name: r.name,
    version: r.version,
    developer: r.developer,
    registeredAt: new Date(r.registered_at).toISOString(),
    registeredSequence: Number(r.registered_seq),
    evaluations: Number(r.evaluations),
    flaggedEvaluations: Number(r.flagged),
  }));
}

/** The models trained or validated on any of these snapshots of the dataset. */
export async function modelsOnSnapshots(sql: Sql, datasetId: string, snapshotIds: readonly string[]): Promise<ModelOnSnapshots[]> {
  if (snapshotIds.length === 0) return [];
  const rows = await sql.query<{ model_id: string; name: string; version: string; trained: string[] | null; validated: string[] | null }>(
    `SELECT m.model_id, m.name, m.version,
            array_agg(s.snapshot_id ORDER BY s.snapshot_id) FILTER (WHERE s.role = 'trained') AS trained,
            array_agg(s.snapshot_id ORDER BY s.snapshot_id) FILTER (WHERE s.role = 'validated') AS validated
       FROM custos_rm_model_snapshots s JOIN custos_rm_models m ON m.model_id = s.model_id
      WHERE s.dataset_id = $1 AND s.snapshot_id = ANY($2::text[])
      GROUP BY m.model_id, m.name, m.version, m.registered_seq ORDER BY m.registered_seq`,
    [datasetId, [...snapshotIds]],
  );
  return rows.map((r) => ({ modelId: r.model_id, name: r.name, version: r.version, trainedOn: r.trained ?? [], validatedOn: r.validated ?? [] }));
}
