import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import type { Principal } from '@custos/authz';
import { AlreadyExistsError, ConcurrencyError, NotFoundError, ValidationError } from '@custos/errors';
import { Database, EventMetadata, EventStore, StoredEvent } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { decideAccessRequest, decideRegisterImage, decideReview, RequestAccess, ReviewEmergencyAccess } from './access.decide.js';
import { AccessDecided, accessStreamId, reviewStreamId, RouteAccessDeniedData } from './access.events.js';
import { categoryOf, ConsentPort } from './consent.port.js';
import { ImageRegistered, ImageRegisteredData, imageStreamId } from './image.events.js';

/** Who did it and in which request: the envelope metadata every command carries. */
export interface CommandContext {
  readonly principal: Principal;
  readonly correlationId: string;
}

export function commandMetadata(ctx: CommandContext, patientId: string | null, causationId?: string): EventMetadata {
  return {
    actor: { id: ctx.principal.sub, roles: [...ctx.principal.roles] },
    correlationId: ctx.correlationId,
    ...(causationId ? { causationId } : {}),
    ...(patientId ? { patientId } : {}),
  };
}

export interface AccessDecisionResult {
  readonly eventId: string;
  readonly sequence: number;
  readonly patientId: string | null;
  readonly decision: 'PERMIT' | 'DENY';
  readonly rule: string;
  readonly reason: string;
  readonly emergency: boolean;
  readonly consentVersion: number;
}

export class RequestAccessCommand {
  constructor(
    readonly request: Omit<RequestAccess, 'principal'>,
    readonly ctx: CommandContext,
  ) {}
}

/**
 * Load → decide → append, and answer only after the commit: no access is granted unrecorded.
 * If the append fails, the error (UnavailableError → 503) propagates and nothing is permitted.
 */
@CommandHandler(RequestAccessCommand)
export class RequestAccessHandler implements ICommandHandler<RequestAccessCommand, AccessDecisionResult> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(ConsentPort) private readonly consent: ConsentPort,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ request, ctx }: RequestAccessCommand): Promise<AccessDecisionResult> {
    const now = this.clock.now();
    const resource = await resolveResource(this.store, this.db, request.resourceType, request.resourceId);
    const patientId = resource?.patientId ?? null;
    // A grant limited to recipients covers the requester or the dataset the image belongs to.
    const recipients = [ctx.principal.sub, ...(resource?.datasetId ? [resource.datasetId] : [])];
    const consent = patientId ? await this.consent.consentFor(patientId, request.purpose, categoryOf(request.resourceType), now, recipients) : { granted: false, version: 0 };
    const event = decideAccessRequest({ ...request, principal: ctx.principal }, { patientId, consent });
    const result = await this.store.append(accessStreamId(patientId), [{ ...event, schemaVersion: 1, metadata: commandMetadata(ctx, patientId), occurredAt: now }], { expectedVersion: 'any' });
    const stored = result.events[0] as StoredEvent;
    const d = event.data;
    return { eventId: stored.eventId, sequence: stored.globalSeq, patientId, decision: d.decision, rule: d.rule, reason: d.reason, emergency: d.emergency, consentVersion: d.consentVersion };
  }
}

/**
 * Whose image is this: an image's patient never changes once registered, so a known answer
 * is kept (bounded); an unknown image is asked of the store every time.
 */
const imageOwners = new Map<string, ResolvedResource>();
const IMAGE_OWNERS_MAX = 100_000;

export interface ResolvedResource {
  readonly patientId: string;
  readonly datasetId?: string;
}

/** The patient a resource belongs to, from the event store itself (no projection lag). */
export async function resolveResource(store: EventStore, db: Database, resourceType: string, resourceId: string): Promise<ResolvedResource | null> {
  if (resourceType === 'image') {
    const known = imageOwners.get(resourceId);
    if (known) return known;
    const [registered] = await store.readStream(imageStreamId(resourceId));
    if (!registered) return null;
    const data = registered.data as ImageRegisteredData;
    const resolved = { patientId: data.patientId, datasetId: data.datasetId };
    if (imageOwners.size >= IMAGE_OWNERS_MAX) imageOwners.delete(imageOwners.keys().next().value as string);
    imageOwners.set(resourceId, resolved);
    return resolved;
  }
  if (resourceType === 'patient-record') {
    const rows = await db.query(`SELECT 1 FROM custos_events WHERE metadata->>'patientId' = $1 AND type = 'ImageRegistered' LIMIT 1`, [resourceId]);
    return rows.length > 0 ? { patientId: resourceId } : null;
  }
  return null; // annotations: their context arrives in its own issue
}

export class RegisterImageCommand {
  constructor(
    readonly image: ImageRegisteredData,
    readonly ctx: CommandContext,
  ) {}
}

@CommandHandler(RegisterImageCommand)
export class RegisterImageHandler implements ICommandHandler<RegisterImageCommand, { eventId: string; sequence: number }> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ image, ctx }: RegisterImageCommand): Promise<{ eventId: string; sequence: number }> {
    const stream = imageStreamId(image.imageId);
    const existing = (await this.store.readStream(stream)) as unknown as ImageRegistered[];
    const outcome = decideRegisterImage(image, existing);
    if (!outcome.ok) throw new AlreadyExistsError(`image ${image.imageId} is already registered`, { imageId: image.imageId }, 'image-exists');
    try {
      const r = await this.store.append(stream, [{ ...outcome.event, schemaVersion: 1, metadata: commandMetadata(ctx, image.patientId), occurredAt: this.clock.now() }], { expectedVersion: 'no-stream' });
      return { eventId: r.events[0]!.eventId, sequence: r.events[0]!.globalSeq };
    } catch (e) {
      if (e instanceof ConcurrencyError) throw new AlreadyExistsError(`image ${image.imageId} is already registered`, { imageId: image.imageId }, 'image-exists');
      throw e;
    }
  }
}

export class ReviewEmergencyAccessCommand {
  constructor(
    readonly review: ReviewEmergencyAccess,
    readonly ctx: CommandContext,
  ) {}
}

@CommandHandler(ReviewEmergencyAccessCommand)
export class ReviewEmergencyAccessHandler implements ICommandHandler<ReviewEmergencyAccessCommand, { eventId: string; sequence: number }> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ review, ctx }: ReviewEmergencyAccessCommand): Promise<{ eventId: string; sequence: number }> {
    const [row] = await this.db.query<{ type: string; data: AccessDecided['data']; stream_id: string }>(
      'SELECT type, data, stream_id FROM custos_events WHERE event_id = $1',
      [review.accessEventId],
    );
    const access = row?.type === 'AccessDecided' ? ({ type: 'AccessDecided', data: row.data } as AccessDecided) : undefined;
    const outcome = decideReview(review, access);
    if (!outcome.ok) {
      if (outcome.error === 'not-found') throw new NotFoundError(`no access decision ${review.accessEventId}`, { eventId: review.accessEventId });
      throw new ValidationError(`access ${review.accessEventId} was not an emergency access`, { eventId: review.accessEventId }, 'not-emergency-access');
    }
    try {
      const r = await this.store.append(
        reviewStreamId(review.accessEventId),
        [{ ...outcome.event, schemaVersion: 1, metadata: commandMetadata(ctx, outcome.event.data.patientId, review.accessEventId), occurredAt: this.clock.now() }],
        { expectedVersion: 'no-stream' },
      );
      return { eventId: r.events[0]!.eventId, sequence: r.events[0]!.globalSeq };
    } catch (e) {
      if (e instanceof ConcurrencyError) throw new AlreadyExistsError(`emergency access ${review.accessEventId} has already been reviewed`, { eventId: review.accessEventId }, 'already-reviewed');
      throw e;
    }
  }
}

/** Records a refused route (the caller was not entitled), before the 403 goes out. */
export async function recordRouteDenied(store: EventStore, clock: Clock, ctx: CommandContext, data: RouteAccessDeniedData): Promise<void> {
  await store.append(accessStreamId(data.patientId), [{ type: 'RouteAccessDenied', schemaVersion: 1, data, metadata: commandMetadata(ctx, data.patientId), occurredAt: clock.now() }], { expectedVersion: 'any' });
}

export const ACCESS_COMMAND_HANDLERS = [RequestAccessHandler, RegisterImageHandler, ReviewEmergencyAccessHandler];
