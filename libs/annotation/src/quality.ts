import type { Sql } from '@custos/event-store';
import { cohensKappa, fleissKappa, median } from './domain/agreement.js';

export interface Demographics {
  readonly sex: string;
  /** null: unknown (a DICOM header without birth date or age). */
  readonly birthYear: number | null;
  readonly ethnicity: string;
}

export interface DatasetQuality {
  datasetId: string;
  /** The read models were complete up to this global sequence. */
  projectedSequence: number;
  annotations: number;
  approvedShare: number | null;
  annotators: Array<{ annotator: string; annotations: number; reviewed: number; rejectionRate: number | null; medianSecondsToReview: number | null }>;
  agreement: {
    /** How one annotator's several annotations of an image count as one rating. */
    rating: string;
    pairs: Array<{ annotators: [string, string]; images: number; cohensKappa: number | null }>;
    fleiss: { images: number; raters: string; kappa: number | null };
  };
  demographics: Array<{ dimension: 'sex' | 'ageBand' | 'ethnicity'; group: string; images: number; annotations: number; approvedShare: number | null; agreement: GroupAgreement }>;
  /** Groups whose agreement is under the minimum (BIAS_MIN_KAPPA); not differentially private: this audit is for stewards and regulators only. */
  agreementFlags: Array<{ dimension: 'sex' | 'ageBand' | 'ethnicity'; group: string; kappa: number; minKappa: number }>;
}

/** Annotator agreement over a group's images: Fleiss over images with two or more annotators, Cohen per pair; null below MIN_AGREEMENT_IMAGES images. */
export interface GroupAgreement {
  readonly images: number;
  readonly fleissKappa: number | null;
  readonly pairs: Array<{ annotators: [string, string]; images: number; cohensKappa: number | null }>;
  readonly flagged: boolean;
}

/** Fewer images rated by two or more annotators than this: no agreement is computed for a group (too few to judge). */
export const MIN_AGREEMENT_IMAGES = 10;

/** Agreement over the images of one group, from one rating per (image, annotator). */
export function groupAgreement(ratings: ReadonlyMap<string, ReadonlyMap<string, string>>, images: ReadonlySet<string>, minKappa: number): GroupAgreement {
  const rated = [...images].map((i) => ratings.get(i)).filter((m): m is ReadonlyMap<string, string> => m !== undefined && m.size >= 2);
  if (rated.length < MIN_AGREEMENT_IMAGES) return { images: rated.length, fleissKappa: null, pairs: [], flagged: false };
  const labels = [...new Set(rated.flatMap((m) => [...m.values()]))].sort();
  const kappa = fleissKappa(rated.map((m) => labels.map((l) => [...m.values()].filter((v) => v === l).length)));
  const raters = [...new Set(rated.flatMap((m) => [...m.keys()]))].sort();
  const pairs: GroupAgreement['pairs'] = [];
  for (let i = 0; i < raters.length; i++) {
    for (let j = i + 1; j < raters.length; j++) {
      const both: Array<[string, string]> = [];
      for (const m of rated) {
        const x = m.get(raters[i] as string);
        const y = m.get(raters[j] as string);
        if (x !== undefined && y !== undefined) both.push([x, y]);
      }
      if (both.length >= MIN_AGREEMENT_IMAGES) pairs.push({ annotators: [raters[i] as string, raters[j] as string], images: both.length, cohensKappa: cohensKappa(both) });
    }
  }
  return { images: rated.length, fleissKappa: kappa, pairs, flagged: kappa !== null && kappa < minKappa };
}

const AGE_BANDS: Array<[number, string]> = [
  [18, '0-17'],
  [40, '18-39'],
  [65, '40-64'],
  [Number.POSITIVE_INFINITY, '65+'],
];

export function ageBand(birthYear: number | null, now: Date): string {
  if (birthYear === null) return 'unknown';
  const age = now.getUTCFullYear() - birthYear;
  return (AGE_BANDS.find(([below]) => age < below) as [number, string])[1];
}

/**
 * The quality audit of one dataset, from the annotation read models (rebuilt by replay like
 * the others); demographics come from each image's registration, opened for the aggregate
 * only (`demographicsOf`), never returned per image.
 */
export async function datasetQuality(sql: Sql, datasetId: string, demographicsOf: (imageId: string) => Promise<Demographics | null>, now: Date, projectedSequence: number, minKappa = 0.6): Promise<DatasetQuality> {
  const live = await sql.query<{ annotation_id: string; image_id: string; created_by: string; label: string; status: string; created_at: Date | string }>(
    'SELECT annotation_id, image_id, created_by, label, status, created_at FROM custos_rm_annotations WHERE dataset_id = $1 AND NOT deleted ORDER BY annotation_id',
    [datasetId],
  );
  const reviews = await sql.query<{ annotation_id: string; verdict: string; reviewed_at: Date | string }>('SELECT annotation_id, verdict, reviewed_at FROM custos_rm_annotation_reviews WHERE dataset_id = $1 ORDER BY global_seq', [datasetId]);
  const byAnnotation = new Map<string, Array<{ verdict: string; at: number }>>();
  for (const r of reviews) byAnnotation.set(r.annotation_id, [...(byAnnotation.get(r.annotation_id) ?? []), { verdict: r.verdict, at: new Date(r.reviewed_at).getTime() }]);

  const annotators = new Map<string, { annotations: number; reviewed: number; rejected: number; waits: number[] }>();
  for (const a of live) {
    const s = annotators.get(a.created_by) ?? { annotations: 0, reviewed: 0, rejected: 0, waits: [] };
    s.annotations += 1;
    const rs = byAnnotation.get(a.annotation_id) ?? [];
    if (rs.length > 0) {
      s.reviewed += 1;
      if (rs.some((r) => r.verdict === 'rejected')) s.rejected += 1;
      s.waits.push(((rs[0] as { at: number }).at - new Date(a.created_at).getTime()) / 1000);
    }
    annotators.set(a.created_by, s);
  }

  // One rating per (image, annotator): the label they used most there (ties: the first by name).
  const ratings = new Map<string, Map<string, string>>();
  const counts = new Map<string, Map<string, Map<string, number>>>();
  for (const a of live) {
    const perImage = counts.get(a.image_id) ?? new Map<string, Map<string, number>>();
    const perRater = perImage.get(a.created_by) ?? new Map<string, number>();
    perRater.set(a.label, (perRater.get(a.label) ?? 0) + 1);
    perImage.set(a.created_by, perRater);
    counts.set(a.image_id, perImage);
  }
  for (const [image, perImage] of counts) {
    const m = new Map<string, string>();
    for (const [rater, labels] of perImage) m.set(rater, [...labels.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0]?.[0] as string);
    ratings.set(image, m);
  }
  const raters = [...annotators.keys()].sort();
  const pairs: DatasetQuality['agreement']['pairs'] = [];
  for (let i = 0; i < raters.length; i++) {
    for (let j = i + 1; j < raters.length; j++) {
      const both: Array<[string, string]> = [];
      for (const m of ratings.values()) {
        const x = m.get(raters[i] as string);
        const y = m.get(raters[j] as string);
        if (x !== undefined && y !== undefined) both.push([x, y]);
      }
      if (both.length > 0) pairs.push({ annotators: [raters[i] as string, raters[j] as string], images: both.length, cohensKappa: cohensKappa(both) });
    }
  }
  const labels = [...new Set(live.map((a) => a.label))].sort();
  const multi = [...ratings.values()].filter((m) => m.size >= 3);
  const table = multi.map((m) => labels.map((l) => [...m.values()].filter((v) => v === l).length));

  const groups = new Map<string, { dimension: 'sex' | 'ageBand' | 'ethnicity'; group: string; images: Set<string>; annotations: number; approved: number }>();
  const demographics = new Map<string, Demographics | null>();
  for (const a of live) {
    if (!demographics.has(a.image_id)) demographics.set(a.image_id, await demographicsOf(a.image_id));
    const d = demographics.get(a.image_id);
    const keys: Array<['sex' | 'ageBand' | 'ethnicity', string]> = d ? [['sex', d.sex], ['ageBand', ageBand(d.birthYear, now)], ['ethnicity', d.ethnicity]] : [['sex', 'unknown'], ['ageBand', 'unknown'], ['ethnicity', 'unknown']];
    for (const [dimension, group] of keys) {
      const g = groups.get(`${dimension}\u0000${group}`) ?? { dimension, group, images: new Set<string>(), annotations: 0, approved: 0 };
      g.images.add(a.image_id);
      g.annotations += 1;
      if (a.status === 'approved') g.approved += 1;
      groups.set(`${dimension}\u0000${group}`, g);
    }
  }

  const approved = live.filter((a) => a.status === 'approved').length;
  const perGroup = [...groups.values()]
    .sort((x, y) => (x.dimension === y.dimension ? (x.group < y.group ? -1 : 1) : x.dimension < y.dimension ? -1 : 1))
    .map((g) => ({ dimension: g.dimension, group: g.group, images: g.images.size, annotations: g.annotations, approvedShare: g.annotations ? g.approved / g.annotations : null, agreement: groupAgreement(ratings, g.images, minKappa) }));
  return {
    datasetId,
    projectedSequence,
    annotations: live.length,
    approvedShare: live.length ? approved / live.length : null,
    annotators: raters.map((annotator) => {
      const s = annotators.get(annotator) as { annotations: number; reviewed: number; rejected: number; waits: number[] };
      return { annotator, annotations: s.annotations, reviewed: s.reviewed, rejectionRate: s.reviewed ? s.rejected / s.reviewed : null, medianSecondsToReview: median(s.waits) };
    }),
    agreement: {
      rating: "per image and annotator, the label of their annotations there used most (ties: the first by name); deleted annotations do not count",
      pairs,
      fleiss: { images: multi.length, raters: 'images with three or more annotators (Fleiss 1971, varying raters per image)', kappa: multi.length ? fleissKappa(table) : null },
    },
    demographics: perGroup,
    agreementFlags: perGroup.filter((g) => g.agreement.flagged).map((g) => ({ dimension: g.dimension, group: g.group, kappa: g.agreement.fleissKappa as number, minKappa })),
  };
}
