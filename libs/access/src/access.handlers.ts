import { Inject, Injectable, Optional } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Principal } from '@custos/authz';
import { AlreadyExistsError, ConcurrencyError } from '@custos/errors';
import { type CommandContext, EventStore } from '@custos/event-store';
import { ImageDirectory, type RegisteredImage } from '@custos/imaging';
import { Clock } from '@custos/platform';
import { categoryOf, type DataAction, type DataCategory, type Purpose, type ResourceType } from '@custos/vocabulary';
import { conceals, type DecideAccess } from './domain/access.decide.js';
import { type AccessDecidedData, accessStreamId, AUDIT_READS_STREAM, type AuditDataReadData, DICOM_SEARCHES_STREAM, type DicomAccess, type DicomSearchRecordedData, type DicomTransferEndedData, reviewStreamId, type RouteAccessDeniedData } from './domain/access.events.js';
import { accessCodec, accessShell, reviewShell } from './access.codec.js';
import { type AccessDecisionResult, AccessDeniedError, UnknownResourceError } from './access.errors.js';
import { ConsentPort } from './consent.port.js';
import { ANNOTATIONS_OF_IMAGE, AnnotationOwners } from './annotation.port.js';
import { POLICY, type PolicyInForce } from './policy.js';

export interface DataRequest {
  readonly resourceType: ResourceType;
  readonly resourceId: string;
  readonly action: DataAction;
  readonly purpose: Purpose;
  readonly emergencyReason?: string;
}

/**
 * Decide and record one access: resolve the resource, read consent from the store, decide
 * with the pure decider, append conditional on the consent version read (linearizable with
 * consent: if the consent stream moved meanwhile, decide again), and only then answer. If the
 * append fails, the error propagates (503) and nothing is permitted.
 */
@Injectable()
export class AccessDecisions {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(ConsentPort) private readonly consent: ConsentPort,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(POLICY) private readonly policy: PolicyInForce,
    @Optional() @Inject(AnnotationOwners) private readonly annotations?: AnnotationOwners,
  ) {
    this.shell = accessShell(store, clock);
  }

  /**
   * `options.resource`: the resource's owner when the caller has already loaded it (a read of
   * an image loads the image once, for the decision and the answer); `null` means unknown.
   */
  async decide(
    request: DataRequest,
    principal: Principal,
    context: CommandContext,
    options: { demographics?: boolean; resource?: { patientId: string; datasetId?: string } | null; dicom?: DicomAccess } = {},
  ): Promise<{ result: AccessDecisionResult; data: AccessDecidedData }> {
    const now = this.clock.now();
    const resource = options.resource !== undefined ? options.resource : await this.resolve(request.resourceType, request.resourceId);
    const patientId = resource?.patientId ?? null;
    const category = categoryOf(request.resourceType);
    const categories: DataCategory[] = options.demographics ? [category, 'DEMOGRAPHICS'] : [category];
    const { events } = await this.shell.handle(
      accessStreamId(patientId),
      async (attempt) => {
        const requester = { user: principal.sub, ...(resource?.datasetId ? { dataset: resource.datasetId } : {}), ...(principal.org ? { organization: principal.org } : {}) };
        // A cached consent is fine first (the append's condition validates it); after a failed condition, read afresh.
        const consent = patientId ? await this.consent.consentFor(patientId, request.purpose, categories, now, requester, { fresh: attempt > 1 }) : undefined;
        const command: DecideAccess = {
          type: 'DecideAccess',
          principal,
          ...request,
          resource,
          consent: { granted: consent?.granted[category] === true, version: consent?.version ?? 0 },
          ...(options.demographics ? { demographics: { consentGranted: consent?.granted.DEMOGRAPHICS === true } } : {}),
          policyVersion: this.policy.version,
          ...(options.dicom ? { dicom: options.dicom } : {}),
        };
        return { command, ...(consent ? { conditions: [consent.condition] } : {}) };
      },
      context,
      { now, expectedVersion: 'any', patientId },
    );
    const [stored] = events;
    if (stored?.type !== 'AccessDecided') throw new Error('an access decision records AccessDecided'); // the decider always does
    const { data } = stored;
    const result: AccessDecisionResult = {
      eventId: stored.eventId,
      sequence: stored.globalSeq,
      patientId: data.patientId,
      decision: data.decision,
      rule: data.rule,
      reason: data.reason,
      emergency: data.emergency,
      consentVersion: data.consentVersion,
      policyVersion: this.policy.version,
      ...(data.demographics ? { demographics: data.demographics } : {}),
    };
    if (data.decision === 'PERMIT') return { result, data };
    if (conceals(principal, data)) throw new UnknownResourceError(request.resourceType, request.resourceId);
    throw new AccessDeniedError(result);
  }

  /** The patient a resource belongs to, from the event store itself (no projection lag). */
  private async resolve(resourceType: ResourceType, resourceId: string): Promise<{ patientId: string; datasetId?: string } | null> {
    if (resourceType === 'image') return this.images.owner(resourceId);
    if (resourceType === 'patient-record') return (await this.images.patientKnown(resourceId)) ? { patientId: resourceId } : null;
    if (resourceId.startsWith(ANNOTATIONS_OF_IMAGE)) return this.images.owner(resourceId.slice(ANNOTATIONS_OF_IMAGE.length));
    return (await this.annotations?.owner(resourceId)) ?? null;
  }
}

export class RequestAccessCommand {
  constructor(
    readonly request: DataRequest,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(RequestAccessCommand)
export class RequestAccessHandler implements ICommandHandler<RequestAccessCommand, AccessDecisionResult> {
  constructor(@Inject(AccessDecisions) private readonly decisions: AccessDecisions) {}

  async execute({ request, principal, context }: RequestAccessCommand): Promise<AccessDecisionResult> {
    return (await this.decisions.decide(request, principal, context)).result;
  }
}

/** Reading an image is an access like any other: decided, recorded, then answered. */
export class ReadImageCommand {
  constructor(
    readonly imageId: string,
    readonly purpose: Purpose,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export type ImageView = Omit<RegisteredImage, 'demographics'> & { demographics: RegisteredImage['demographics'] | 'withheld'; access: AccessDecisionResult };

@CommandHandler(ReadImageCommand)
export class ReadImageHandler implements ICommandHandler<ReadImageCommand, ImageView> {
  constructor(
    @Inject(AccessDecisions) private readonly decisions: AccessDecisions,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
  ) {}

  async execute({ imageId, purpose, principal, context }: ReadImageCommand): Promise<ImageView> {
    const image = await this.images.image(imageId);
    const { result, data } = await this.decisions.decide({ resourceType: 'image', resourceId: imageId, action: 'view', purpose }, principal, context, { demographics: true, resource: image });
    const { demographics, ...rest } = image as RegisteredImage; // a PERMIT means the image exists
    return { ...rest, demographics: data.demographics === 'included' ? demographics : 'withheld', access: result };
  }
}

/** Records refusals and reads of audit data in the log, before the answer goes out. */
@Injectable()
export class AccessRecorder {
  private readonly shell;

  constructor(@Inject(EventStore) store: EventStore, @Inject(Clock) clock: Clock) {
    this.shell = accessShell(store, clock);
  }

  async routeDenied(context: CommandContext, data: RouteAccessDeniedData): Promise<void> {
    await this.shell.handle(accessStreamId(data.patientId), { type: 'RecordRouteDenied', data }, context, { expectedVersion: 'any', patientId: data.patientId });
  }

  /** What a permitted DICOMweb retrieve released, once its stream ended (or failed, or was aborted). */
  async dicomTransfer(context: CommandContext, data: DicomTransferEndedData): Promise<void> {
    await this.shell.handle(accessStreamId(data.patientId), { type: 'RecordDicomTransfer', data }, { ...context, causationId: data.accessEventId }, { expectedVersion: 'any', patientId: data.patientId });
  }

  async dicomSearch(context: CommandContext, data: DicomSearchRecordedData): Promise<void> {
    await this.shell.handle(DICOM_SEARCHES_STREAM, { type: 'RecordDicomSearch', data }, context, { expectedVersion: 'any', patientId: null });
  }

  async auditRead(context: CommandContext, data: AuditDataReadData): Promise<void> {
    const stream = data.patientId ? accessStreamId(data.patientId) : AUDIT_READS_STREAM;
    await this.shell.handle(stream, { type: 'RecordAuditRead', data }, context, { expectedVersion: 'any', patientId: data.patientId });
  }
}

export class ReviewEmergencyAccessCommand {
  constructor(
    readonly review: { accessEventId: string; verdict: 'justified' | 'unjustified'; note: string },
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(ReviewEmergencyAccessCommand)
export class ReviewEmergencyAccessHandler implements ICommandHandler<ReviewEmergencyAccessCommand, { eventId: string; sequence: number }> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) clock: Clock,
  ) {
    this.shell = reviewShell(store, clock);
  }

  async execute({ review, context }: ReviewEmergencyAccessCommand): Promise<{ eventId: string; sequence: number }> {
    const stored = await this.store.readEvent(review.accessEventId);
    const decoded = stored ? accessCodec.decode(stored) : undefined;
    const access = decoded?.type === 'AccessDecided' ? decoded : undefined;
    try {
      const { events } = await this.shell.handle(reviewStreamId(review.accessEventId), { type: 'ReviewEmergencyAccess', ...review, access }, { ...context, causationId: review.accessEventId }, { patientId: access?.data.patientId ?? null });
      return { eventId: events[0]!.eventId, sequence: events[0]!.globalSeq };
    } catch (e) {
      // Two reviewers raced: the loser is told what a late second review is told.
      if (e instanceof ConcurrencyError) throw new AlreadyExistsError(`emergency access ${review.accessEventId} has already been reviewed`, { eventId: review.accessEventId }, 'already-reviewed');
      throw e;
    }
  }
}

export const ACCESS_COMMAND_HANDLERS = [RequestAccessHandler, ReadImageHandler, ReviewEmergencyAccessHandler];
