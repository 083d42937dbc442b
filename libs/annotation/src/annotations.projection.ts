import type { Sql } from '@custos/event-store';
import { DecodedProjection, type ProjectedEvent } from '@custos/projections';
import { annotationCodec, snapshotCodec } from './annotation.codec.js';
import type { AnnotationEvent, DatasetSnapshotted } from './domain/annotation.events.js';

export interface AnnotationRow {
  annotationId: string;
  imageId: string;
  datasetId: string;
  patientId: string;
  label: string;
  status: string;
  version: number;
  deleted: boolean;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * Annotations by image (the listing), label and status. One annotation's events share one
 * Kafka partition (keyed by patient) and the runner applies them in global order; each update
 * also checks `last_seq`, so a replay and live projection agree.
 */
export class AnnotationsProjection extends DecodedProjection<AnnotationEvent> {
  readonly name = 'annotations';
  readonly tables = ['custos_rm_annotations', 'custos_rm_annotation_reviews'];

  constructor() {
    super(annotationCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<AnnotationEvent>): Promise<void> {
    switch (e.type) {
      case 'AnnotationCreated': {
        const d = e.data;
        await sql.execute(
          `INSERT INTO custos_rm_annotations (annotation_id, image_id, dataset_id, patient_id, label, status, version, created_by, created_at, updated_at, last_seq)
           VALUES ($1, $2, $3, $4, $5, 'unreviewed', $6, $7, $8, $8, $9) ON CONFLICT (annotation_id) DO NOTHING`,
          [d.annotationId, d.imageId, d.datasetId, d.patientId, d.label, e.version, e.metadata.actor.id, e.occurredAt, e.globalSeq],
        );
        return;
      }
      case 'AnnotationEdited': {
        const d = e.data;
        await sql.execute(
          'UPDATE custos_rm_annotations SET label = COALESCE($2, label), status = $3, version = $4, updated_at = $5, last_seq = $6 WHERE annotation_id = $1 AND last_seq < $6',
          [d.annotationId, d.label ?? null, d.status, e.version, e.occurredAt, e.globalSeq],
        );
        return;
      }
      case 'AnnotationDeleted':
        await sql.execute('UPDATE custos_rm_annotations SET deleted = true, version = $2, updated_at = $3, last_seq = $4 WHERE annotation_id = $1 AND last_seq < $4', [
          e.data.annotationId,
          e.version,
          e.occurredAt,
          e.globalSeq,
        ]);
        return;
      case 'AnnotationReviewed': {
        const d = e.data;
        await sql.execute('UPDATE custos_rm_annotations SET status = $2, version = $3, updated_at = $4, last_seq = $5 WHERE annotation_id = $1 AND last_seq < $5', [d.annotationId, d.status, e.version, e.occurredAt, e.globalSeq]);
        // The dataset comes from the annotation's row (created earlier in the same stream, so projected before).
        await sql.execute(
          `INSERT INTO custos_rm_annotation_reviews (global_seq, annotation_id, dataset_id, verdict, reviewer, reviewed_at)
           SELECT $1, $2, dataset_id, $3, $4, $5 FROM custos_rm_annotations WHERE annotation_id = $2 ON CONFLICT DO NOTHING`,
          [e.globalSeq, d.annotationId, d.verdict, e.metadata.actor.id, e.occurredAt],
        );
        return;
      }
      default:
        return;
    }
  }
}

export async function annotationsOfImage(sql: Sql, imageId: string, includeDeleted: boolean): Promise<AnnotationRow[]> {
  const rows = await sql.query<Record<string, unknown>>(
    `SELECT * FROM custos_rm_annotations WHERE image_id = $1 ${includeDeleted ? '' : 'AND NOT deleted'} ORDER BY created_at, annotation_id LIMIT 1000`,
    [imageId],
  );
  return rows.map((r) => ({
    annotationId: r.annotation_id as string,
    imageId: r.image_id as string,
    datasetId: r.dataset_id as string,
    patientId: r.patient_id as string,
    label: r.label as string,
    status: r.status as string,
    version: Number(r.version),
    deleted: r.deleted === true,
    createdBy: r.created_by as string,
    createdAt: new Date(r.created_at as string).toISOString(),
    updatedAt: new Date(r.updated_at as string).toISOString(),
  }));
}

/**
 * Which images each snapshot froze (for the consent-withdrawals view: a withdrawn patient's
 * images that a model may have learned from).
 */
export class SnapshotImagesProjection extends DecodedProjection<DatasetSnapshotted> {
  readonly name = 'snapshot-images';
  readonly tables = ['custos_rm_snapshot_images'];

  constructor() {
    super(snapshotCodec);
  }

  protected async project(sql: Sql, e: ProjectedEvent<DatasetSnapshotted>): Promise<void> {
    const d = e.data;
    const images = [...new Set(d.entries.map((x) => x.imageId))];
    if (images.length === 0) return;
    await sql.execute(
      'INSERT INTO custos_rm_snapshot_images (snapshot_id, dataset_id, image_id, taken_at) SELECT $1, $2, unnest($3::text[]), $4 ON CONFLICT DO NOTHING',
      [d.snapshotId, d.datasetId, images, e.occurredAt],
    );
  }
}

/** The snapshots of a dataset that contain any of these images. */
export async function snapshotsWithImages(sql: Sql, datasetId: string, imageIds: readonly string[]): Promise<Array<{ snapshotId: string; images: string[]; takenAt: string }>> {
  if (imageIds.length === 0) return [];
  const rows = await sql.query<{ snapshot_id: string; images: string[]; taken_at: Date | string }>(
    `SELECT snapshot_id, array_agg(image_id ORDER BY image_id) AS images, min(taken_at) AS taken_at
       FROM custos_rm_snapshot_images WHERE dataset_id = $1 AND image_id = ANY($2::text[])
      GROUP BY snapshot_id ORDER BY min(taken_at), snapshot_id`,
    [datasetId, [...imageIds]],
  );
  return rows.map((r) => ({ snapshotId: r.snapshot_id, images: r.images, takenAt: new Date(r.taken_at).toISOString() }));
}
