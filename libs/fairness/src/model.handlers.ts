import { createHash } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler, type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { snapshotCodec, snapshotStreamId } from '@custos/annotation';
import { defineAbilityFor, type Principal } from '@custos/authz';
import { ConflictError, NotFoundError } from '@custos/errors';
import { type CommandContext, Database, EventStore } from '@custos/event-store';
import { CUSTOS_CONFIG } from '@custos/kernel';
import { Clock, type CustosConfig, Ids } from '@custos/platform';
import { epsilonText, sameActor } from '@custos/vocabulary';
import { groupDomains } from './domain/groups.js';
import { checkDeveloper } from './domain/model.decide.js';
import type { ModelEvaluatedData, ModelRegisteredData, SnapshotRef } from './domain/model.events.js';
import { modelStreamId } from './domain/model.events.js';
import { type BalanceReleasedData, privacyStreamId } from './domain/privacy.events.js';
import { modelCodec, modelShell } from './model.codec.js';
import { TrainingConsent } from './model.ports.js';
import { listModels, type ModelListing } from './model.projection.js';

/**
 * A model's id, from its name and version: the same pair always names the same stream, so
 * "one registration per name and version" is the stream's own optimistic concurrency (no
 * index to keep in step, no read model to lag behind a racing registration).
 */
export function modelIdOf(name: string, version: string): string {
  const h = createHash('sha256').update(`custos-model\u0000${name}\u0000${version}`, 'utf8').digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A snapshot as named in a request: the root, when given, must be the one the log recorded. */
export interface SnapshotInput {
  readonly datasetId: string;
  readonly snapshotId: string;
  readonly rootHash?: string;
}

/** The snapshot as recorded, with its place in the log (404 unknown-snapshot, 409 snapshot-root-mismatch). */
async function recorded(store: EventStore, input: SnapshotInput, field: string): Promise<{ ref: SnapshotRef; imageIds: string[]; sequence: number; takenAt: string }> {
  const [event] = await store.readStream(snapshotStreamId(input.snapshotId));
  const data = event ? snapshotCodec.decode(event).data : null;
  if (!event || !data || data.datasetId !== input.datasetId) {
    throw new NotFoundError(`${field}: no snapshot ${input.snapshotId} of dataset ${input.datasetId}`, { field, datasetId: input.datasetId, snapshotId: input.snapshotId }, 'unknown-snapshot');
  }
  if (input.rootHash !== undefined && input.rootHash.toLowerCase() !== data.rootHash) {
    throw new ConflictError(`${field}: the root given is not the one recorded for snapshot ${input.snapshotId}`, { field, snapshotId: input.snapshotId, given: input.rootHash, recorded: data.rootHash }, 'snapshot-root-mismatch');
  }
  return {
    ref: { datasetId: data.datasetId, snapshotId: data.snapshotId, rootHash: data.rootHash, treeSize: data.treeSize, purpose: data.purpose },
    imageIds: [...new Set(data.entries.map((e) => e.imageId))],
    sequence: event.globalSeq,
    takenAt: event.occurredAt,
  };
}

export interface RegisterModelInput {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly trainedOn: readonly SnapshotInput[];
  readonly validatedOn: readonly SnapshotInput[];
}

export class RegisterModelCommand {
  constructor(
    readonly input: RegisterModelInput,
    readonly context: CommandContext,
  ) {}
}

export type RegisteredModel = ModelRegisteredData & { readonly eventId: string; readonly sequence: number; readonly registeredAt: string };

/** A model version tied to the snapshots it learned from, their roots copied from the log. */
@CommandHandler(RegisterModelCommand)
export class RegisterModelHandler implements ICommandHandler<RegisterModelCommand, RegisteredModel> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) clock: Clock,
  ) {
    this.shell = modelShell(store, clock);
  }

  async execute({ input, context }: RegisterModelCommand): Promise<RegisteredModel> {
    const images: Record<string, string[]> = {};
    const resolve = (list: readonly SnapshotInput[], name: string) =>
      Promise.all(
        list.map(async (s, i) => {
          const r = await recorded(this.store, s, `${name}[${i}]`);
          images[r.ref.snapshotId] = r.imageIds;
          return r.ref;
        }),
      );
    const trainedOn = await resolve(input.trainedOn, 'trainedOn');
    const validatedOn = await resolve(input.validatedOn, 'validatedOn');
    const modelId = modelIdOf(input.name, input.version);
    const model: ModelRegisteredData = {
      modelId,
      name: input.name,
      version: input.version,
      ...(input.description !== undefined ? { description: input.description } : {}),
      trainedOn,
      validatedOn,
      developer: context.actor.id,
    };
    const handled = await this.shell.handle(modelStreamId(modelId), { type: 'RegisterModel', model, images }, context);
    const event = handled.events[0];
    if (!event) throw new ConflictError('this model is registered already', { modelId }, 'model-exists');
    return { ...model, eventId: event.eventId, sequence: event.globalSeq, registeredAt: event.stored.occurredAt };
  }
}

export interface EvaluationInput {
  readonly testSnapshot: SnapshotInput;
  /** As submitted: the decider checks it, naming the field. */
  readonly groups: unknown;
}

export class EvaluateModelCommand {
  constructor(
    readonly modelId: string,
    readonly input: EvaluationInput,
    readonly context: CommandContext,
  ) {}
}

export type RecordedEvaluation = ModelEvaluatedData & { readonly eventId: string; readonly sequence: number; readonly at: string };

/** Results per group on a test snapshot, judged with the thresholds in force (config.fairness), which the event records. */
@CommandHandler(EvaluateModelCommand)
export class EvaluateModelHandler implements ICommandHandler<EvaluateModelCommand, RecordedEvaluation> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) clock: Clock,
    @Inject(Ids) private readonly ids: Ids,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
  ) {
    this.shell = modelShell(store, clock);
  }

  async execute({ modelId, input, context }: EvaluateModelCommand): Promise<RecordedEvaluation> {
    const stream = modelStreamId(modelId);
    const model = (await history(this.store, modelId)).registered.data;
    // Before any snapshot is looked up: another developer learns nothing about them here.
    checkDeveloper(model, context.actor.id);
    const test = await recorded(this.store, input.testSnapshot, 'testSnapshot');
    // The training snapshots' images, from the log, for the overlap check (the decider counts shared images).
    const images: Record<string, readonly string[]> = { [test.ref.snapshotId]: test.imageIds };
    for (const [i, s] of model.trainedOn.entries()) images[s.snapshotId] = (await recorded(this.store, s, `trainedOn[${i}]`)).imageIds;
    const f = this.config.fairness;
    const handled = await this.shell.handle(
      stream,
      { type: 'EvaluateModel', evaluationId: this.ids.next(), testSnapshot: test.ref, groups: input.groups, thresholds: { maxGap: f.maxGap, minGroupSize: f.minGroupSize }, domains: groupDomains(f.ethnicityGroups), by: context.actor.id, images },
      context,
    );
    const event = handled.events[0];
    if (!event || event.type !== 'ModelEvaluated') throw new Error('an evaluation decided no event');
    return { ...event.data, eventId: event.eventId, sequence: event.globalSeq, at: event.stored.occurredAt };
  }
}

export class ListModelsQuery extends Query<{ items: ModelListing[]; next: number | null }> {
  constructor(
    readonly limit: number,
    readonly after: number,
    readonly principal: Principal,
  ) {
    super();
  }
}

/** Stewards and regulators oversee every model; a model developer sees only the models they registered. */
function oversees(principal: Principal): boolean {
  return principal.roles.includes('data-steward') || principal.roles.includes('regulator');
}

/** A model another developer registered answers as a missing one does (404 not-found: no existence oracle). */
function visibleTo(principal: Principal, model: ModelRegisteredData): void {
  if (!oversees(principal) && !sameActor(model.developer, principal.sub)) throw new NotFoundError(`no model ${model.modelId}`, undefined, 'not-found');
}

/** Registered models, in registration order, a page at a time (`after`: the last one's registeredSequence); a developer's own only. */
@QueryHandler(ListModelsQuery)
export class ListModelsHandler implements IQueryHandler<ListModelsQuery, { items: ModelListing[]; next: number | null }> {
  constructor(@Inject(Database) private readonly db: Database) {}

  async execute({ limit, after, principal }: ListModelsQuery): Promise<{ items: ModelListing[]; next: number | null }> {
    const items = await listModels(this.db, limit, after, oversees(principal) ? null : principal.sub);
    return { items, next: items.length === limit ? (items[items.length - 1]?.registeredSequence ?? null) : null };
  }
}

interface ModelHistory {
  readonly registered: { readonly data: ModelRegisteredData; readonly eventId: string; readonly sequence: number; readonly at: string };
  readonly evaluations: RecordedEvaluation[];
}

/** The model's stream, decoded (404 not-found). */
async function history(store: EventStore, modelId: string): Promise<ModelHistory> {
  const events = (await store.readStream(modelStreamId(modelId))).map((e) => ({ stored: e, event: modelCodec.decode(e) }));
  const first = events[0];
  if (!first || first.event.type !== 'ModelRegistered') throw new NotFoundError(`no model ${modelId}`, undefined, 'not-found');
  const evaluations: RecordedEvaluation[] = [];
  for (const { stored, event } of events) if (event.type === 'ModelEvaluated') evaluations.push({ ...event.data, eventId: stored.eventId, sequence: stored.globalSeq, at: stored.occurredAt });
  return { registered: { data: first.event.data, eventId: first.stored.eventId, sequence: first.stored.globalSeq, at: first.stored.occurredAt }, evaluations };
}

export class ModelQuery extends Query<RegisteredModel & { evaluations: RecordedEvaluation[] }> {
  constructor(
    readonly modelId: string,
    readonly principal: Principal,
  ) {
    super();
  }
}

/** A model as registered, with its evaluations (from its stream). */
@QueryHandler(ModelQuery)
export class ModelHandler implements IQueryHandler<ModelQuery, RegisteredModel & { evaluations: RecordedEvaluation[] }> {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  async execute({ modelId, principal }: ModelQuery): Promise<RegisteredModel & { evaluations: RecordedEvaluation[] }> {
    const h = await history(this.store, modelId);
    visibleTo(principal, h.registered.data);
    return { ...h.registered.data, eventId: h.registered.eventId, sequence: h.registered.sequence, registeredAt: h.registered.at, evaluations: h.evaluations };
  }
}

export interface BalanceReleaseSummary {
  readonly releaseId: string;
  readonly at: string;
  readonly sequence: number;
  readonly epsilon: string;
  readonly flagged: BalanceReleasedData['flagged'];
}

export interface SnapshotCard extends SnapshotRef {
  readonly takenAt: string;
  readonly sequence: number;
  /** The dataset's balance releases (privacy-<datasetId>), all of them, in order. */
  readonly balanceReleases: readonly BalanceReleaseSummary[];
  /** Patients of its images who withdrew AI_TRAINING after it was taken; who only for those who may read dataset consent (stewards). */
  readonly consentSinceTaken: { readonly patients: number; readonly withdrawn: number; readonly withdrawnShare: number; readonly patientIds?: readonly string[] };
}

export interface ModelCard {
  readonly model: RegisteredModel;
  readonly data: { readonly trainedOn: readonly SnapshotCard[]; readonly validatedOn: readonly SnapshotCard[] };
  readonly evaluations: readonly RecordedEvaluation[];
  /** Every flagged gap of every evaluation, with its evaluation. */
  readonly flags: ReadonlyArray<ModelEvaluatedData['flagged'][number] & { readonly evaluationId: string }>;
}

export class ModelCardQuery extends Query<ModelCard> {
  constructor(
    readonly modelId: string,
    readonly principal: Principal,
  ) {
    super();
  }
}

/**
 * The model card, assembled from the log: the model, each snapshot it learned from or was
 * validated on (root, size, purpose) with its dataset's balance releases, its evaluations per
 * group with gaps, flags and groups too small, and the consent lost since each snapshot was
 * taken (counts; patient ids only to those who may read dataset consent).
 */
@QueryHandler(ModelCardQuery)
export class ModelCardHandler implements IQueryHandler<ModelCardQuery, ModelCard> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(TrainingConsent) private readonly consent: TrainingConsent,
  ) {}

  async execute({ modelId, principal }: ModelCardQuery): Promise<ModelCard> {
    const h = await history(this.store, modelId);
    visibleTo(principal, h.registered.data);
    const withIds = defineAbilityFor(principal).can('read', 'DatasetConsent');
    const releases = new Map<string, Promise<BalanceReleaseSummary[]>>();
    const releasesOf = (datasetId: string) => {
      let found = releases.get(datasetId);
      if (!found) releases.set(datasetId, (found = this.releases(datasetId)));
      return found;
    };
    const card = async (ref: SnapshotRef, i: number, field: string): Promise<SnapshotCard> => {
      const r = await recorded(this.store, ref, `${field}[${i}]`);
      const lost = await this.consent.since(ref.datasetId, r.imageIds, r.sequence);
      const withdrawn = [...new Set(lost.withdrawn)].sort();
      return {
        ...ref,
        takenAt: r.takenAt,
        sequence: r.sequence,
        balanceReleases: await releasesOf(ref.datasetId),
        consentSinceTaken: {
          patients: lost.patients,
          withdrawn: withdrawn.length,
          withdrawnShare: lost.patients > 0 ? Math.round((withdrawn.length / lost.patients) * 1e6) / 1e6 : 0,
          ...(withIds ? { patientIds: withdrawn } : {}),
        },
      };
    };
    const d = h.registered.data;
    return {
      model: { ...d, eventId: h.registered.eventId, sequence: h.registered.sequence, registeredAt: h.registered.at },
      data: {
        trainedOn: await Promise.all(d.trainedOn.map((s, i) => card(s, i, 'trainedOn'))),
        validatedOn: await Promise.all(d.validatedOn.map((s, i) => card(s, i, 'validatedOn'))),
      },
      evaluations: h.evaluations,
      flags: h.evaluations.flatMap((e) => e.flagged.map((f) => ({ ...f, evaluationId: e.evaluationId }))),
    };
  }

  /** The dataset's balance releases as recorded (the privacy stream; none when there is none yet). */
  private async releases(datasetId: string): Promise<BalanceReleaseSummary[]> {
    const events = await this.store.readStream(privacyStreamId(datasetId));
    return events
      .filter((e) => e.type === 'BalanceReleased')
      .map((e) => {
        const data = e.data as Partial<BalanceReleasedData>;
        return { releaseId: String(data.releaseId), at: e.occurredAt, sequence: e.globalSeq, epsilon: epsilonText(Number(data.epsilonMicros ?? 0)), flagged: Array.isArray(data.flagged) ? data.flagged : [] };
      });
  }
}

export const MODEL_HANDLERS = [RegisterModelHandler, EvaluateModelHandler, ListModelsHandler, ModelHandler, ModelCardHandler];
