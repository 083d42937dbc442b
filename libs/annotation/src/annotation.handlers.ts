import { Inject, Optional } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { AccessDecisions, type AccessDecisionResult, annotationsOfImage as listingId, ConsentPort } from '@custos/access';
import type { Principal } from '@custos/authz';
import { ConcurrencyError, ConflictError, NotFoundError, PreconditionFailedError, PreconditionRequiredError } from '@custos/errors';
import { type Attempt, type CommandContext, Database, EventStore, type StoredEvent } from '@custos/event-store';
import { ImageDirectory } from '@custos/imaging';
import { PayloadCipher } from '@custos/keys';
import { Clock, Ids } from '@custos/platform';
import { projectedPosition } from '@custos/projections';
import type { Purpose } from '@custos/vocabulary';
import { annotationShell, datasetShell, snapshotCodec, snapshotShell } from './annotation.codec.js';
import { AnnotationDirectory } from './annotation-directory.js';
import { AgreementWatch } from './agreement-watch.js';
import { type AnnotationRow, annotationsOfImage } from './annotations.projection.js';
import type { AnnotationCommand, AnnotationFields } from './domain/annotation.decide.js';
import { annotationStreamId, type DatasetConfiguredData, type DatasetSnapshottedData, datasetStreamId, snapshotStreamId } from './domain/annotation.events.js';

/** A write conditional on If-Match: the shell's conflict becomes 412 with the current version. */
async function conditional<T>(expected: number, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (e instanceof ConcurrencyError && e.code === 'concurrency-conflict') {
      throw new PreconditionFailedError(`the annotation is at version ${e.actualVersion}, not ${expected}`, { currentVersion: e.actualVersion }, 'stale-version');
    }
    throw e;
  }
}

export class ConfigureDatasetCommand {
  constructor(
    readonly config: DatasetConfiguredData,
    readonly ifMatch: number | undefined,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(ConfigureDatasetCommand)
export class ConfigureDatasetHandler implements ICommandHandler<ConfigureDatasetCommand, { datasetId: string; version: number }> {
  private readonly shell;

  constructor(@Inject(EventStore) store: EventStore, @Inject(Clock) clock: Clock) {
    this.shell = datasetShell(store, clock);
  }

  async execute({ config, ifMatch, context }: ConfigureDatasetCommand): Promise<{ datasetId: string; version: number }> {
    const write = () => this.shell.handle(datasetStreamId(config.datasetId), { type: 'ConfigureDataset', config }, context, ifMatch !== undefined ? { expectedVersion: ifMatch } : {});
    const handled = ifMatch !== undefined ? await conditional(ifMatch, write) : await write();
    return { datasetId: config.datasetId, version: handled.version };
  }
}

/** What annotating needs to know: the image's owner, the dataset's settings, the patient's consent. */
async function annotationContext(images: ImageDirectory, directory: AnnotationDirectory, imageId: string): Promise<{ patientId: string; dataset: DatasetConfiguredData }> {
  const owner = await images.owner(imageId);
  if (!owner) throw new NotFoundError(`no image ${imageId}`, { imageId }, 'unknown-image');
  const dataset = await directory.dataset(owner.datasetId);
  if (!dataset) throw new ConflictError(`dataset ${owner.datasetId} has no settings yet (PUT /v1/datasets/${owner.datasetId})`, { datasetId: owner.datasetId }, 'dataset-not-configured');
  return { patientId: owner.patientId, dataset: dataset.config };
}

export class CreateAnnotationCommand {
  constructor(
    readonly imageId: string,
    readonly fields: AnnotationFields,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export class EditAnnotationCommand {
  constructor(
    readonly annotationId: string,
    readonly changes: Partial<AnnotationFields>,
    readonly ifMatch: number | undefined,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export class DeleteAnnotationCommand {
  constructor(
    readonly annotationId: string,
    readonly ifMatch: number | undefined,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export class ReviewAnnotationCommand {
  constructor(
    readonly annotationId: string,
    readonly verdict: 'approved' | 'rejected',
    readonly reason: string | undefined,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

/** An annotation that exists, with its patient and its dataset's settings (404 otherwise). */
async function existing(images: ImageDirectory, directory: AnnotationDirectory, annotationId: string): Promise<{ version: number; patientId: string; dataset: DatasetConfiguredData }> {
  const current = await directory.annotation(annotationId);
  if (!current || !current.state.imageId || !current.state.patientId) throw new NotFoundError(`no annotation ${annotationId}`, { annotationId }, 'not-found');
  const { dataset } = await annotationContext(images, directory, current.state.imageId);
  return { version: current.version, patientId: current.state.patientId, dataset };
}

/** An edit or a deletion names the version it changes. */
function ifMatchOf(ifMatch: number | undefined, currentVersion: number): number {
  if (ifMatch === undefined) throw new PreconditionRequiredError('send If-Match with the version you are changing', { currentVersion }, 'if-match-required');
  return ifMatch;
}

type Written = { annotationId: string; version: number; status: string };

/*
 * Writes to one annotation, through the one shell. Creating and editing process the patient's
 * data for the dataset's purpose: the patient's consent must cover ANNOTATIONS or IMAGING, and
 * the append is conditional on the consent version read (a consent change meanwhile: decide
 * again on fresh consent), as access decisions are.
 */
/** Each attempt's command, on the patient's consent read for it (afresh after the consent changed under the append), conditional on that consent. */
function withConsent(consent: ConsentPort, patientId: string, dataset: DatasetConfiguredData, principal: Principal, now: Date, command: (granted: boolean) => AnnotationCommand): (attempt: number) => Promise<Attempt<AnnotationCommand>> {
  return async (attempt) => {
    const answer = await consent.consentFor(patientId, dataset.purpose, ['ANNOTATIONS', 'IMAGING'], now, { user: principal.sub, dataset: dataset.datasetId, ...(principal.org ? { organization: principal.org } : {}) }, { fresh: attempt > 1 });
    return { command: command(answer.granted.ANNOTATIONS === true || answer.granted.IMAGING === true), conditions: [answer.condition] };
  };
}

@CommandHandler(CreateAnnotationCommand)
export class CreateAnnotationHandler implements ICommandHandler<CreateAnnotationCommand, Written> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(Ids) private readonly ids: Ids,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(ConsentPort) private readonly consent: ConsentPort,
  ) {
    this.shell = annotationShell(store, clock);
  }

  async execute(command: CreateAnnotationCommand): Promise<Written> {
    const now = this.clock.now();
    const { patientId, dataset } = await annotationContext(this.images, this.directory, command.imageId);
    const annotationId = this.ids.next();
    const handled = await this.shell.handle(
      annotationStreamId(annotationId),
      withConsent(this.consent, patientId, dataset, command.principal, now, (consentGranted) => ({ type: 'CreateAnnotation', principal: command.principal, dataset, consentGranted, annotationId, imageId: command.imageId, patientId, fields: command.fields })),
      command.context,
      { now, expectedVersion: 'no-stream', patientId },
    );
    return { annotationId, version: handled.version, status: handled.state.status };
  }
}

@CommandHandler(EditAnnotationCommand)
export class EditAnnotationHandler implements ICommandHandler<EditAnnotationCommand, Written> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(ConsentPort) private readonly consent: ConsentPort,
  ) {
    this.shell = annotationShell(store, clock);
  }

  async execute(command: EditAnnotationCommand): Promise<Written> {
    const now = this.clock.now();
    const { version, patientId, dataset } = await existing(this.images, this.directory, command.annotationId);
    const stream = annotationStreamId(command.annotationId);
    const expected = ifMatchOf(command.ifMatch, version);
    const handled = await conditional(expected, () =>
      this.shell.handle(
        stream,
        withConsent(this.consent, patientId, dataset, command.principal, now, (consentGranted) => ({ type: 'EditAnnotation', principal: command.principal, dataset, consentGranted, changes: command.changes })),
        command.context,
        { now, patientId, expectedVersion: expected },
      ),
    );
    return { annotationId: command.annotationId, version: handled.version, status: handled.state.status };
  }
}

@CommandHandler(DeleteAnnotationCommand)
export class DeleteAnnotationHandler implements ICommandHandler<DeleteAnnotationCommand, Written> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
  ) {
    this.shell = annotationShell(store, clock);
  }

  async execute(command: DeleteAnnotationCommand): Promise<Written> {
    const now = this.clock.now();
    const { version, patientId, dataset } = await existing(this.images, this.directory, command.annotationId);
    const stream = annotationStreamId(command.annotationId);
    const expected = ifMatchOf(command.ifMatch, version);
    const handled = await conditional(expected, () => this.shell.handle(stream, { type: 'DeleteAnnotation', principal: command.principal, dataset }, command.context, { now, patientId, expectedVersion: expected }));
    return { annotationId: command.annotationId, version: handled.version, status: handled.state.status };
  }
}

@CommandHandler(ReviewAnnotationCommand)
export class ReviewAnnotationHandler implements ICommandHandler<ReviewAnnotationCommand, Written> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Optional() @Inject(AgreementWatch) private readonly watch?: AgreementWatch,
  ) {
    this.shell = annotationShell(store, clock);
  }

  async execute(command: ReviewAnnotationCommand): Promise<Written> {
    const now = this.clock.now();
    const { patientId, dataset } = await existing(this.images, this.directory, command.annotationId);
    const stream = annotationStreamId(command.annotationId);
    const handled = await this.shell.handle(stream, { type: 'ReviewAnnotation', principal: command.principal, dataset, verdict: command.verdict, ...(command.reason !== undefined ? { reason: command.reason } : {}) }, command.context, { now, patientId });
    // After the review is recorded, never inside its decision: the group's agreement is measured
    // (a failure there is logged and does not fail the review; see AgreementWatch.afterReview).
    const [reviewed] = handled.events;
    if (this.watch && reviewed && handled.state.imageId) {
      await this.watch.afterReview({ datasetId: dataset.datasetId, annotationId: command.annotationId, imageId: handled.state.imageId, eventId: reviewed.eventId, sequence: reviewed.globalSeq, hash: reviewed.hash }, command.context);
    }
    return { annotationId: command.annotationId, version: handled.version, status: handled.state.status };
  }
}

export interface AnnotationView {
  annotationId: string;
  imageId: string;
  datasetId: string;
  patientId: string;
  label: string;
  geometry: unknown;
  confidence: number;
  note: unknown;
  status: string;
  deleted: boolean;
  version: number;
  access: AccessDecisionResult;
}

export interface HistoryEntry {
  version: number;
  sequence: number;
  type: string;
  at: string;
  by: { id: string; roles: readonly string[] };
  credential: string;
  changes: Array<{ field: string; from: unknown; to: unknown }>;
  verdict?: string;
  reason?: unknown;
  status?: string;
}

export class ReadAnnotationCommand {
  constructor(
    readonly annotationId: string,
    readonly what: 'current' | 'history',
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export class ListImageAnnotationsCommand {
  constructor(
    readonly imageId: string,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

/*
 * Reads of annotations are reads of patient data: each goes through the access decision
 * (resource type `annotation`, purpose = the dataset's), is recorded, and shows in the
 * patient's trail; only a PERMIT gets the annotation (its note opened). A decision is recorded
 * and may refuse, so these are commands, though they answer with data.
 */

/** The purpose an annotation is read for: its dataset's (AI_TRAINING while the dataset is unknown). */
async function purposeOf(directory: AnnotationDirectory, datasetId: string): Promise<Purpose> {
  return (await directory.dataset(datasetId))?.config.purpose ?? 'AI_TRAINING';
}

@CommandHandler(ReadAnnotationCommand)
export class ReadAnnotationHandler implements ICommandHandler<ReadAnnotationCommand, AnnotationView | { annotationId: string; items: HistoryEntry[]; access: AccessDecisionResult }> {
  constructor(
    @Inject(AccessDecisions) private readonly decisions: AccessDecisions,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
  ) {}

  async execute(command: ReadAnnotationCommand): Promise<AnnotationView | { annotationId: string; items: HistoryEntry[]; access: AccessDecisionResult }> {
    const owner = await this.directory.owner(command.annotationId);
    const purpose = owner ? await purposeOf(this.directory, owner.datasetId) : 'AI_TRAINING';
    const { result } = await this.decisions.decide({ resourceType: 'annotation', resourceId: command.annotationId, action: 'view', purpose }, command.principal, command.context, { resource: owner });
    const found = await this.directory.annotation(command.annotationId);
    if (!found) throw new NotFoundError(`no annotation ${command.annotationId}`, undefined, 'not-found');
    const opened = await Promise.all(found.events.map((e) => this.cipher.open(e)));
    return command.what === 'history' ? { annotationId: command.annotationId, items: historyOf(opened), access: result } : currentOf(opened, found.state, result);
  }
}

@CommandHandler(ListImageAnnotationsCommand)
export class ListImageAnnotationsHandler implements ICommandHandler<ListImageAnnotationsCommand, { imageId: string; items: AnnotationRow[]; access: AccessDecisionResult; projectedSequence: number }> {
  constructor(
    @Inject(AccessDecisions) private readonly decisions: AccessDecisions,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(Database) private readonly db: Database,
  ) {}

  async execute(command: ListImageAnnotationsCommand): Promise<{ imageId: string; items: AnnotationRow[]; access: AccessDecisionResult; projectedSequence: number }> {
    const owner = await this.images.owner(command.imageId);
    const purpose = owner ? await purposeOf(this.directory, owner.datasetId) : 'AI_TRAINING';
    const { result } = await this.decisions.decide({ resourceType: 'annotation', resourceId: listingId(command.imageId), action: 'view', purpose }, command.principal, command.context, { resource: owner });
    const items: AnnotationRow[] = await annotationsOfImage(this.db, command.imageId, false);
    return { imageId: command.imageId, items, access: result, projectedSequence: await projectedPosition(this.db) };
  }
}

const FIELDS = ['label', 'geometry', 'confidence', 'note'] as const;

function currentOf(events: readonly StoredEvent[], state: { status: string; deleted: boolean }, access: AccessDecisionResult): AnnotationView {
  const first = events[0]?.data as Record<string, unknown>;
  const now: Record<string, unknown> = { label: first.label, geometry: first.geometry, confidence: first.confidence, note: first.note ?? null };
  for (const e of events.slice(1)) {
    if (e.type !== 'AnnotationEdited') continue;
    const d = e.data as Record<string, unknown>;
    for (const f of FIELDS) if (d[f] !== undefined) now[f] = d[f];
  }
  return {
    annotationId: first.annotationId as string,
    imageId: first.imageId as string,
    datasetId: first.datasetId as string,
    patientId: first.patientId as string,
    label: now.label as string,
    geometry: now.geometry,
    confidence: now.confidence as number,
    note: now.note,
    status: state.status,
    deleted: state.deleted,
    version: (events[events.length - 1] as StoredEvent).version,
    access,
  };
}

/** Every version oldest first: what changed (field by field), who, under which credential, when. */
export function historyOf(events: readonly StoredEvent[]): HistoryEntry[] {
  const now: Record<string, unknown> = {};
  return events.map((e) => {
    const d = e.data as Record<string, unknown>;
    const changes: HistoryEntry['changes'] = [];
    if (e.type === 'AnnotationCreated' || e.type === 'AnnotationEdited') {
      for (const f of FIELDS) {
        if (d[f] === undefined) continue;
        changes.push({ field: f, from: now[f] ?? null, to: d[f] });
        now[f] = d[f];
      }
    }
    if (e.type === 'AnnotationDeleted') changes.push({ field: 'deleted', from: false, to: true });
    return {
      version: e.version,
      sequence: e.globalSeq,
      type: e.type,
      at: e.occurredAt,
      by: { id: e.metadata.actor.id, roles: e.metadata.actor.roles },
      credential: d.credential as string,
      changes,
      ...(e.type === 'AnnotationReviewed' ? { verdict: d.verdict as string, ...(d.reason !== undefined ? { reason: d.reason } : {}) } : {}),
      ...(typeof d.status === 'string' ? { status: d.status } : {}),
    };
  });
}

export class TakeSnapshotCommand {
  constructor(
    readonly datasetId: string,
    readonly context: CommandContext,
  ) {}
}

/**
 * Freezes a dataset's approved annotations (as the read model has them, `asOfSequence`) into a
 * manifest with its RFC 9162 digest. Images whose patients do not consent to the dataset's
 * purpose now (ANNOTATIONS or IMAGING) are left out and counted; the append is conditional on
 * every consulted patient's consent version, so a consent change meanwhile means a fresh take.
 */
@CommandHandler(TakeSnapshotCommand)
export class TakeSnapshotHandler implements ICommandHandler<TakeSnapshotCommand, DatasetSnapshottedData> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(Ids) private readonly ids: Ids,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(ConsentPort) private readonly consent: ConsentPort,
    @Inject(Database) private readonly db: Database,
  ) {
    this.shell = snapshotShell(store, clock);
  }

  async execute({ datasetId, context }: TakeSnapshotCommand): Promise<DatasetSnapshottedData> {
    const dataset = await this.directory.dataset(datasetId);
    if (!dataset) throw new NotFoundError(`no dataset ${datasetId}`, undefined, 'not-found');
    const snapshotId = this.ids.next();
    const now = this.clock.now();
    const handled = await this.shell.handle(
      snapshotStreamId(snapshotId),
      async (attempt) => {
        const asOfSequence = await projectedPosition(this.db);
        const approved = await approvedAnnotations(this.db, datasetId);
        const patients = [...new Set(approved.map((a) => a.patientId))].sort();
        const granted = new Map<string, boolean>();
        const conditions = [];
        for (const patientId of patients) {
          const answer = await this.consent.consentFor(patientId, dataset.config.purpose, ['ANNOTATIONS', 'IMAGING'], now, { user: context.actor.id, dataset: datasetId }, { fresh: attempt > 1 });
          granted.set(patientId, answer.granted.ANNOTATIONS === true || answer.granted.IMAGING === true);
          conditions.push(answer.condition);
        }
        const kept = approved.filter((a) => granted.get(a.patientId));
        const left = approved.filter((a) => !granted.get(a.patientId));
        return {
          command: {
            type: 'TakeSnapshot',
            manifest: {
              snapshotId,
              datasetId,
              datasetVersion: dataset.version,
              purpose: dataset.config.purpose,
              asOfSequence,
              entries: kept.map((a) => ({ annotationId: a.annotationId, version: a.version, imageId: a.imageId, label: a.label })),
              excluded: { images: new Set(left.map((a) => a.imageId)).size, annotations: left.length, reason: 'no-consent-for-purpose' },
            },
          },
          conditions,
        };
      },
      context,
      { now, expectedVersion: 'no-stream' },
    );
    const [snapshot] = handled.events;
    if (!snapshot) throw new Error('taking a snapshot records one'); // the decider records or refuses
    return snapshot.data;
  }
}

/** A dataset's snapshot as recorded, or null (also when it belongs to another dataset). */
export async function readSnapshot(store: EventStore, datasetId: string, snapshotId: string): Promise<DatasetSnapshottedData | null> {
  const [event] = await store.readStream(snapshotStreamId(snapshotId));
  if (!event) return null;
  const data = snapshotCodec.decode(event).data;
  return data.datasetId === datasetId ? data : null;
}

async function approvedAnnotations(db: Database, datasetId: string): Promise<Array<{ annotationId: string; version: number; imageId: string; label: string; patientId: string }>> {
  const rows = await db.query<{ annotation_id: string; version: number | string; image_id: string; label: string; patient_id: string }>(
    "SELECT annotation_id, version, image_id, label, patient_id FROM custos_rm_annotations WHERE dataset_id = $1 AND status = 'approved' AND NOT deleted ORDER BY annotation_id",
    [datasetId],
  );
  return rows.map((r) => ({ annotationId: r.annotation_id, version: Number(r.version), imageId: r.image_id, label: r.label, patientId: r.patient_id }));
}

export const ANNOTATION_HANDLERS = [
  ConfigureDatasetHandler,
  TakeSnapshotHandler,
  CreateAnnotationHandler,
  EditAnnotationHandler,
  DeleteAnnotationHandler,
  ReviewAnnotationHandler,
  ReadAnnotationHandler,
  ListImageAnnotationsHandler,
];
