import type { Sql } from '@custos/event-store';
import { imageStreamId } from '@custos/imaging';
import type { PayloadCipher } from '@custos/keys';
import type { PatientContribution } from './domain/balance.js';
import { groupsOf } from './domain/groups.js';

/**
 * A dataset's true counts, per patient, for the aggregate only: images per patient from
 * consent's read model of dataset images, approved (not deleted) annotations per label per
 * patient from annotation's, and each patient's demographics from the registration of their
 * first image in the dataset (sealed: opened here, mapped to public groups at once). Nothing
 * of it is logged, stored, or put in an error: only the noisy release leaves the process.
 *
 * Built for 100,000 patients: three set queries, and the registrations read in bulk (one query
 * per chunk of streams), never one stream read per image; their data keys too (one key-table
 * query per chunk, `PayloadCipher.openMany`), never one key lookup per patient.
 */
const CHUNK = 5_000;

interface PatientRow {
  patient_id: string;
  images: number | string;
  first_image: string;
}

export async function patientContributions(sql: Sql, cipher: PayloadCipher, datasetId: string, year: number, ethnicityGroups: readonly string[]): Promise<PatientContribution[]> {
  const patients = await sql.query<PatientRow>(
    `SELECT patient_id, count(*) AS images, (array_agg(image_id ORDER BY entered_seq, image_id))[1] AS first_image
       FROM custos_rm_dataset_images WHERE dataset_id = $1 GROUP BY patient_id ORDER BY patient_id`,
    [datasetId],
  );
  if (patients.length === 0) return [];
  const labelled = await sql.query<{ patient_id: string; label: string; n: number | string }>(
    `SELECT patient_id, label, count(*) AS n FROM custos_rm_annotations
      WHERE dataset_id = $1 AND status = 'approved' AND NOT deleted GROUP BY patient_id, label`,
    [datasetId],
  );
  const annotations = new Map<string, Record<string, number>>();
  for (const r of labelled) {
    const mine = annotations.get(r.patient_id) ?? {};
    mine[r.label] = Number(r.n);
    annotations.set(r.patient_id, mine);
  }
  const demographics = await registeredDemographics(sql, cipher, patients.map((p) => p.first_image));
  return patients.map((p) => ({
    groups: groupsOf(demographics.get(p.first_image) ?? null, year, ethnicityGroups),
    images: Number(p.images),
    annotations: annotations.get(p.patient_id) ?? {},
  }));
}

/** Each image's registered demographics, opened (an erased key: `{erased: true}` fields, which map to 'unknown'). */
async function registeredDemographics(sql: Sql, cipher: PayloadCipher, imageIds: readonly string[]): Promise<Map<string, Record<string, unknown> | null>> {
  const out = new Map<string, Record<string, unknown> | null>();
  for (let i = 0; i < imageIds.length; i += CHUNK) {
    const streams = imageIds.slice(i, i + CHUNK).map(imageStreamId);
    const rows = await sql.query<{ data: unknown }>(`SELECT data FROM custos_events WHERE stream_id = ANY($1) AND type = 'ImageRegistered'`, [streams]);
    // One bulk read of the chunk's data keys (one query, node:crypto unwraps), held for this chunk only; then node:crypto opens each part.
    const opened = await cipher.openMany(rows.map((row) => ({ data: (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as Record<string, unknown> })));
    for (const { data: o } of opened) {
      const d = o.demographics;
      if (typeof o.imageId === 'string') out.set(o.imageId, d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : null);
    }
  }
  return out;
}
