import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { PayloadCipher } from '@custos/keys';
import { Database } from '@custos/event-store';
import { projectedPosition } from '@custos/projections';
import { type Page, readDisclosures, readReviews, readTrail, type ReviewItem, type TrailFilter, type TrailItem } from './access-trail.repository.js';

/** Reads of the access read models: eventually consistent, so each says how far the projection is. */
export interface Projected<T> {
  readonly result: T;
  /** The global sequence up to which the read models are complete (-1: nothing projected). */
  readonly projectedSequence: number;
}

export class AccessTrailQuery {
  constructor(readonly filter: TrailFilter) {}
}

export class DisclosuresQuery {
  constructor(
    readonly patientId: string,
    readonly from: Date,
    readonly to: Date,
  ) {}
}

export class ReviewQueueQuery {
  constructor(
    readonly status: 'open' | 'closed' | 'all',
    readonly limit: number,
    readonly cursor?: string,
  ) {}
}

@QueryHandler(AccessTrailQuery)
export class AccessTrailHandler implements IQueryHandler<AccessTrailQuery, Projected<Page<TrailItem>>> {
  constructor(@Inject(Database) private readonly db: Database) {}
  async execute({ filter }: AccessTrailQuery): Promise<Projected<Page<TrailItem>>> {
    return { result: await readTrail(this.db, filter), projectedSequence: await projectedPosition(this.db) };
  }
}

@QueryHandler(DisclosuresQuery)
export class DisclosuresHandler implements IQueryHandler<DisclosuresQuery, Projected<TrailItem[]>> {
  constructor(@Inject(Database) private readonly db: Database) {}
  async execute({ patientId, from, to }: DisclosuresQuery): Promise<Projected<TrailItem[]>> {
    return { result: await readDisclosures(this.db, patientId, from, to), projectedSequence: await projectedPosition(this.db) };
  }
}

@QueryHandler(ReviewQueueQuery)
export class ReviewQueueHandler implements IQueryHandler<ReviewQueueQuery, Projected<Page<ReviewItem> & { total: number }>> {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
  ) {}

  /**
   * The queue is read by security officers only (route rule `security-review`), whom the
   * field rule `security-review-reasons` lets read the emergency reason and review notes: the
   * sealed parts are opened here (`{"erased": true}` once the patient's key is destroyed).
   */
  async execute({ status, limit, cursor }: ReviewQueueQuery): Promise<Projected<Page<ReviewItem> & { total: number }>> {
    const page = await readReviews(this.db, status, limit, cursor);
    const items = await Promise.all(
      page.items.map(async ({ reasonSealed, noteSealed, ...item }) => ({
        ...item,
        ...(reasonSealed ? { reason: (await this.cipher.openSealed(reasonSealed)).emergencyReason as ReviewItem['reason'] } : {}),
        ...(noteSealed ? { note: (await this.cipher.openSealed(noteSealed)).note as ReviewItem['note'] } : {}),
      })),
    );
    return { result: { ...page, items }, projectedSequence: await projectedPosition(this.db) };
  }
}

export const ACCESS_QUERY_HANDLERS = [AccessTrailHandler, DisclosuresHandler, ReviewQueueHandler];
