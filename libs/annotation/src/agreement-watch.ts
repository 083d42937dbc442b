import { Inject, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { type CommandContext, Database, EventStore, readEventsAt, type Sql } from '@custos/event-store';
import { ImageDirectory } from '@custos/imaging';
import { CUSTOS_CONFIG, LOGGER } from '@custos/kernel';
import { Clock, type CustosConfig } from '@custos/platform';
import { agreementShell } from './annotation.codec.js';
import { fleissKappa } from './domain/agreement.js';
import { MIN_RATED_IMAGES } from './domain/agreement.decide.js';
import { AGREEMENT_DIMENSIONS, type AgreementDimension, agreementStreamId, type GroupAgreementMeasuredData, type ReviewRef } from './domain/annotation.events.js';

/**
 * A patient's group in each dimension from their opened demographics (null: unknown
 * throughout). A port: the fairness context provides it (its `groupsOf` with the configured
 * ethnicity groups), so this context does not import the one that imports it.
 */
export abstract class DemographicGroups {
  abstract of(demographics: Record<string, unknown> | null, year: number): Record<AgreementDimension, string>;
}

/** The review just recorded: what the read models may not hold yet. */
export interface RecordedReview {
  readonly datasetId: string;
  readonly annotationId: string;
  readonly imageId: string;
  readonly eventId: string;
  readonly sequence: number;
  readonly hash: string;
}

/** Reviews read per page while looking for a group's last N (newest first). */
const PAGE = 500;
/**
 * The newest reviews of a dataset looked at per measurement: 20 × the window (at least 2000).
 * A group rarer than that among the dataset's recent reviews is measured over fewer than N
 * reviews (its window says how many: `reviews`), so a review never reads a whole large dataset.
 */
export const scanLimitOf = (window: number): number => Math.max(20 * window, 2000);

/**
 * Measures a demographic group's inter-annotator agreement after a review, and records it
 * (`GroupAgreementMeasured`, stream `agreement-<datasetId>`) when the group's state changes;
 * the sentinel judges the recorded measurement. The gateway measures because it holds the
 * keys that open the demographics (the sentinel does not, in distributed mode).
 *
 * For the reviewed image's group in each dimension: the dataset's last `kappaWindow` reviews
 * whose image is in that group (newest first, the just-recorded review included), one rating
 * per (image, annotator) = the label they used most there (ties: the first by name, as the
 * quality audit), Fleiss' kappa over the images with two or more raters; fewer than 10 such
 * images: no kappa and no state.
 */
export class AgreementWatch {
  private readonly shell;
  /** Groups per image for one year (age bands move with it); bounded, oldest out first. */
  private readonly maxCached = 100_000;
  private readonly groups = new Map<string, { year: number; groups: Record<AgreementDimension, string> }>();

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(DemographicGroups) private readonly demographicGroups: DemographicGroups,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
    @Optional() @Inject(LOGGER) private readonly logger?: Logger,
  ) {
    this.shell = agreementShell(store, clock);
  }

  /**
   * Called after a review was appended, never inside its decision. A failure here is logged
   * (ids and the error's name only, no PHI) and does not fail the review: the next review in
   * the same group measures the same window again, so a missed change is recorded late, not lost.
   */
  async afterReview(review: RecordedReview, context: CommandContext): Promise<void> {
    try {
      await this.measure(review, context);
    } catch (e) {
      this.logger?.warn({ datasetId: review.datasetId, reviewEventId: review.eventId, error: e instanceof Error ? e.name : 'unknown' }, 'group agreement not measured after a review');
    }
  }

  /** Measures the reviewed image's groups; returns what was recorded. */
  async measure(review: RecordedReview, context: CommandContext): Promise<GroupAgreementMeasuredData[]> {
    const { minKappa, kappaWindow: window } = this.config.fairness;
    const year = this.clock.now().getUTCFullYear();
    const target = await this.groupsOf(review.imageId, year);
    const windows = await this.windows(review, target, window, year);
    const recorded: GroupAgreementMeasuredData[] = [];
    for (const dimension of AGREEMENT_DIMENSIONS) {
      const reviews = windows[dimension];
      const { kappa, images } = await agreementOver(this.db, review.datasetId, [...new Set(reviews.map((r) => r.imageId))]);
      const refs = await this.refsOf(reviews, review);
      const measurement = { datasetId: review.datasetId, dimension, group: target[dimension], kappa, images, window, minKappa, reviews: refs };
      const handled = await this.shell.handle(agreementStreamId(review.datasetId), { type: 'RecordAgreement', measurement }, { ...context, causationId: review.eventId }, { patientId: null });
      for (const e of handled.events) recorded.push(e.data);
    }
    return recorded;
  }

  /** Each dimension's window: the dataset's newest reviews whose image is in the reviewed image's group, at most `window`. */
  private async windows(review: RecordedReview, target: Record<AgreementDimension, string>, window: number, year: number): Promise<Record<AgreementDimension, Array<{ sequence: number; imageId: string }>>> {
    const out: Record<AgreementDimension, Array<{ sequence: number; imageId: string }>> = { sex: [], ageBand: [], ethnicity: [] };
    // The just-recorded review first, whether or not the read model holds it yet.
    for (const d of AGREEMENT_DIMENSIONS) out[d].push({ sequence: review.sequence, imageId: review.imageId });
    const full = () => AGREEMENT_DIMENSIONS.every((d) => out[d].length >= window);
    let below = Number.MAX_SAFE_INTEGER;
    let scanned = 0;
    const limit = scanLimitOf(window);
    while (!full() && scanned < limit) {
      const size = Math.min(PAGE, limit - scanned);
      const rows = await this.db.query<{ global_seq: string | number; image_id: string }>(
        `SELECT r.global_seq, a.image_id FROM custos_rm_annotation_reviews r JOIN custos_rm_annotations a ON a.annotation_id = r.annotation_id
          WHERE r.dataset_id = $1 AND r.global_seq < $2 ORDER BY r.global_seq DESC LIMIT $3`,
        [review.datasetId, below, size],
      );
      scanned += rows.length;
      for (const row of rows) {
        const sequence = Number(row.global_seq);
        below = sequence;
        if (sequence === review.sequence) continue;
        const groups = await this.groupsOf(row.image_id, year);
        for (const d of AGREEMENT_DIMENSIONS) if (out[d].length < window && groups[d] === target[d]) out[d].push({ sequence, imageId: row.image_id });
      }
      if (rows.length < size) break;
    }
    return out;
  }

  private async refsOf(reviews: ReadonlyArray<{ sequence: number }>, just: RecordedReview): Promise<ReviewRef[]> {
    const others = reviews.map((r) => r.sequence).filter((s) => s !== just.sequence);
    const found = new Map((await readEventsAt(this.db, others)).map((e) => [e.globalSeq, { eventId: e.eventId, sequence: e.globalSeq, hash: e.hash }]));
    const refs: ReviewRef[] = [];
    for (const r of reviews) {
      const ref = r.sequence === just.sequence ? { eventId: just.eventId, sequence: just.sequence, hash: just.hash } : found.get(r.sequence);
      if (ref) refs.push(ref);
    }
    return refs;
  }

  /** An image's groups, its demographics opened for this only (an erased patient's read as unknown). */
  private async groupsOf(imageId: string, year: number): Promise<Record<AgreementDimension, string>> {
    const known = this.groups.get(imageId);
    if (known && known.year === year) return known.groups;
    const image = await this.images.image(imageId);
    // After an erasure the sealed fields read as `{erased: true}`: the patient's groups read as unknown.
    const demographics: unknown = image?.demographics;
    const groups = this.demographicGroups.of(typeof demographics === 'object' && demographics !== null && !Array.isArray(demographics) ? (demographics as Record<string, unknown>) : null, year);
    if (this.groups.size >= this.maxCached) this.groups.delete(this.groups.keys().next().value as string);
    this.groups.set(imageId, { year, groups });
    return groups;
  }
}

/**
 * Fleiss' kappa over these images' live annotations in the dataset: one rating per (image,
 * annotator), the label they used most there (ties: the first by name); images with two or
 * more raters count. Fewer than 10 such images: null.
 */
export async function agreementOver(sql: Sql, datasetId: string, imageIds: readonly string[]): Promise<{ kappa: number | null; images: number }> {
  if (imageIds.length === 0) return { kappa: null, images: 0 };
  const rows = await sql.query<{ image_id: string; created_by: string; label: string }>(
    'SELECT image_id, created_by, label FROM custos_rm_annotations WHERE dataset_id = $1 AND image_id = ANY($2::text[]) AND NOT deleted',
    [datasetId, [...imageIds]],
  );
  const counts = new Map<string, Map<string, Map<string, number>>>();
  for (const a of rows) {
    const perImage = counts.get(a.image_id) ?? new Map<string, Map<string, number>>();
    const perRater = perImage.get(a.created_by) ?? new Map<string, number>();
    perRater.set(a.label, (perRater.get(a.label) ?? 0) + 1);
    perImage.set(a.created_by, perRater);
    counts.set(a.image_id, perImage);
  }
  const rated: string[][] = [];
  for (const perImage of counts.values()) {
    if (perImage.size < 2) continue;
    rated.push([...perImage.values()].map((labels) => [...labels.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0]?.[0] as string));
  }
  if (rated.length < MIN_RATED_IMAGES) return { kappa: null, images: rated.length };
  const labels = [...new Set(rated.flat())].sort();
  const table = rated.map((ratings) => labels.map((l) => ratings.filter((v) => v === l).length));
  return { kappa: fleissKappa(table), images: rated.length };
}
