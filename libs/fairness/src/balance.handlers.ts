import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler, type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { AnnotationDirectory, type DatasetConfiguredData } from '@custos/annotation';
import type { Principal } from '@custos/authz';
import { ConcurrencyError, ForbiddenError, NotFoundError, PreconditionFailedError, UnavailableError, ValidationError } from '@custos/errors';
import { type CommandContext, commandShell, Database, EventStore, eventCodec, type StoredEvent } from '@custos/event-store';
import { CUSTOS_CONFIG } from '@custos/kernel';
import { PayloadCipher } from '@custos/keys';
import { Clock, type CustosConfig, type FairnessConfig, Ids } from '@custos/platform';
import { projectedPosition } from '@custos/projections';
import { epsilonMicrosOf, epsilonText } from '@custos/vocabulary';
import { patientContributions } from './balance.source.js';
import { cryptoRandom } from './crypto-random.js';
import { planFor } from './domain/plan.js';
import { cellKey, cellsOf } from './domain/balance.js';
import { releaseCells, releaseParts, trueCells } from './domain/balance.js';
import { budgetDecider, type BudgetState, remainingOf } from './domain/budget.decide.js';
import { noiseHalfWidth, noiseStandardDeviation, scaleValue } from './domain/dlap.js';
import { type Dimension, groupDomains, isDimension } from './domain/groups.js';
import { type BalanceReleased, type BalanceReleasedData, privacyStreamId, type ReferencePopulationSet, type ReferencePopulationSetData, type ReleasedCell, type ReleasePart, referencePopulationStreamId } from './domain/privacy.events.js';
import type { RandomSource } from './domain/random.js';
import { referenceDecider } from './domain/reference.decide.js';
import { clearedOf, flagsOf, labelPrevalence, representation } from './domain/representation.js';

/** The only randomness in production: node:crypto's uniform integers. */
const cryptoSource: RandomSource = cryptoRandom;

export const privacyCodec = eventCodec<BalanceReleased>({ BalanceReleased: { version: 1 } });
export const referenceCodec = eventCodec<ReferencePopulationSet>({ ReferencePopulationSet: { version: 1 } });

/**
 * Releases race for the last of a budget in one stream: a conflict (another release appended
 * meanwhile) is decided again on the fresh ledger, so the budget is linearizable and the
 * ledger never exceeds a cap.
 */
export const budgetShell = (store: EventStore, clock: Clock) =>
  commandShell({ store, clock, decider: budgetDecider, codec: privacyCodec, retry: { when: (e) => e.code === 'concurrency-conflict' || e.code === 'condition-failed', attempts: 200 } });
export const referenceShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: referenceDecider, codec: referenceCodec });

/**
 * Reports computed at once in this process, and waiting: counting a large dataset is CPU work
 * in the process that also decides clinical access, so a flood of reports queues (a budget race
 * still sees every request decided on the fresh ledger), and beyond the queue is refused at once
 * with 503 `reports-busy` instead of slowing everything else down.
 */
const REPORTS_RUNNING = 2;
const REPORTS_WAITING = 32;

export class ReportGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly slots = REPORTS_RUNNING,
    private readonly queue = REPORTS_WAITING,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) {
      if (this.waiting.length >= this.queue) throw new UnavailableError('too many balance reports are being computed; try again shortly', 'reports-busy');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on: `running` is unchanged
      else this.running -= 1;
    }
  }
}

/** ε and the dimensions of a balance query, checked (400 naming the field); nothing is read or spent before. */
export function balanceQuery(epsilon: unknown, by: unknown, fairness: FairnessConfig): { epsilonMicros: number; by: Dimension[] } {
  if (typeof epsilon !== 'string') throw new ValidationError('epsilon is required, once: a positive decimal (e.g. 0.5)', { field: 'epsilon' }, 'bad-epsilon');
  const micros = epsilonMicrosOf(epsilon.trim() === epsilon ? epsilon : '');
  if (micros === null) throw new ValidationError('epsilon must be a positive decimal with at most six places (e.g. 0.5)', { field: 'epsilon' }, 'bad-epsilon');
  // A floor on ε bounds how many releases a budget buys (each costs work; a flood of tiny ones is averaging by another name).
  if (micros < fairness.epsilonMinPerRelease) throw new ValidationError(`epsilon must be at least ${epsilonText(fairness.epsilonMinPerRelease)} per release`, { field: 'epsilon', min: epsilonText(fairness.epsilonMinPerRelease) }, 'bad-epsilon');
  if (micros > fairness.epsilonMaxPerRelease) throw new ValidationError(`epsilon must be at most ${epsilonText(fairness.epsilonMaxPerRelease)} per release`, { field: 'epsilon', max: epsilonText(fairness.epsilonMaxPerRelease) }, 'bad-epsilon');
  if (typeof by !== 'string' || by.length === 0) throw new ValidationError('by is required, once: one to three of sex, ageBand, ethnicity', { field: 'by' }, 'bad-by');
  const dims = by.split(',');
  if (dims.length > 3) throw new ValidationError('by names at most three dimensions', { field: 'by' }, 'bad-by');
  for (const d of dims) if (!isDimension(d)) throw new ValidationError('by names an unknown dimension: one of sex, ageBand, ethnicity', { field: 'by' }, 'bad-by');
  if (new Set(dims).size !== dims.length) throw new ValidationError('by names a dimension twice', { field: 'by' }, 'bad-by');
  return { epsilonMicros: micros, by: dims as Dimension[] };
}

/** Who may see a dataset's balance: stewards and regulators, researchers listed on the dataset (their own ledger entries only). */
function standing(principal: Principal, dataset: DatasetConfiguredData): 'oversight' | 'researcher' {
  if (principal.roles.includes('data-steward') || principal.roles.includes('regulator')) return 'oversight';
  if (principal.roles.includes('researcher') && (dataset.researchers ?? []).includes(principal.sub)) return 'researcher';
  throw new ForbiddenError(`you are not a researcher on dataset ${dataset.datasetId}`, { datasetId: dataset.datasetId }, 'not-on-dataset');
}

async function datasetOf(directory: AnnotationDirectory, datasetId: string): Promise<DatasetConfiguredData> {
  const found = await directory.dataset(datasetId);
  if (!found) throw new NotFoundError(`no dataset ${datasetId}`, { datasetId }, 'not-found');
  return found.config;
}

function capsOf(f: FairnessConfig): { perRequester: number; perDataset: number } {
  return { perRequester: f.epsilonPerRequester, perDataset: f.epsilonPerDataset };
}

/** Public figures of a part: no budget is spent to know them. */
function partView(p: ReleasePart) {
  const sigma = scaleValue(p.scale);
  return { epsilon: epsilonText(p.epsilonMicros), sensitivity: p.sensitivity, clip: p.clip, scale: sigma, sd: noiseStandardDeviation(sigma), halfWidth95: noiseHalfWidth(sigma) };
}

function countView(value: number, sd: number, halfWidth: number) {
  return { value, sd, interval: [value - halfWidth, value + halfWidth] as [number, number], coversZero: value - halfWidth <= 0 && value + halfWidth >= 0 };
}

async function currentReference(store: EventStore, datasetId: string): Promise<{ data: ReferencePopulationSetData; version: number } | null> {
  const events = await store.readStream(referencePopulationStreamId(datasetId));
  const last = events[events.length - 1];
  return last ? { data: referenceCodec.decode(last).data, version: last.version } : null;
}

async function ledgerState(store: EventStore, datasetId: string): Promise<{ events: StoredEvent[]; state: BudgetState }> {
  const events = await store.readStream(privacyStreamId(datasetId));
  const state = events.map((e) => privacyCodec.decode(e)).reduce(budgetDecider.evolve, budgetDecider.initialState);
  return { events, state };
}

/** JSON has no infinity: an unbounded end of an interval is null. */
const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);
const interval = (i: readonly [number, number]): [number | null, number | null] => [finite(i[0]), finite(i[1])];

export class BalanceReportCommand {
  constructor(
    readonly datasetId: string,
    readonly epsilon: unknown,
    readonly by: unknown,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

/**
 * A balance report: the dataset's true counts per cell (in process only), the noisy release,
 * its reading against the reference population, and the BalanceReleased that spends the ε,
 * appended before anything is answered. A refusal (budget, standing) spends nothing.
 */
@CommandHandler(BalanceReportCommand)
export class BalanceReportHandler implements ICommandHandler<BalanceReportCommand, unknown> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(Ids) private readonly ids: Ids,
    @Inject(Database) private readonly db: Database,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
  ) {
    this.shell = budgetShell(store, clock);
  }

  private readonly gate = new ReportGate();

  async execute(command: BalanceReportCommand): Promise<unknown> {
    const fairness = this.config.fairness;
    const q = balanceQuery(command.epsilon, command.by, fairness);
    const dataset = await datasetOf(this.directory, command.datasetId);
    standing(command.principal, dataset);
    const caps = capsOf(fairness);
    const requester = command.principal.sub;
    // Refuse early when the budget is already spent (the append decides again, on the fresh ledger).
    budgetDecider.decide({ type: 'Release', release: { requester, epsilonMicros: q.epsilonMicros, caps } as BalanceReleasedData }, (await ledgerState(this.store, command.datasetId)).state);

    return this.gate.run(() => this.release(command, q, dataset, caps, requester));
  }

  private async release(command: BalanceReportCommand, q: { epsilonMicros: number; by: Dimension[] }, dataset: DatasetConfiguredData, caps: { perRequester: number; perDataset: number }, requester: string): Promise<unknown> {
    const fairness = this.config.fairness;
    const now = this.clock.now();
    const asOfSequence = await projectedPosition(this.db);
    const patients = await patientContributions(this.db, this.cipher, command.datasetId, now.getUTCFullYear(), fairness.ethnicityGroups);
    if (patients.length === 0) throw new ValidationError(`dataset ${command.datasetId} has no patients to report on`, { field: 'datasetId' }, 'dataset-empty');
    const domains = groupDomains(fairness.ethnicityGroups);
    const labels = dataset.labels;
    const clips = { images: fairness.clipImages, annotations: fairness.clipAnnotations };
    const parts = releaseParts(q.epsilonMicros, clips);
    const cells = releaseCells(trueCells(patients, q.by, domains, labels, clips), parts, labels, cryptoSource);
    const reference = await currentReference(this.store, command.datasetId);
    const groups = Object.fromEntries(q.by.map((d) => [d, domains[d]])) as Partial<Record<Dimension, readonly string[]>>;
    const rep = reference ? representation(cells, parts, reference.data.shares, fairness.minRepresentation) : [];
    const prevalence = labelPrevalence(cells, parts, q.by, groups, labels, fairness.minRepresentation);
    const release: BalanceReleasedData = {
      releaseId: this.ids.next(),
      datasetId: command.datasetId,
      requester,
      query: { by: q.by, epsilon: epsilonText(q.epsilonMicros) },
      epsilonMicros: q.epsilonMicros,
      mechanism: 'discrete-laplace',
      parts,
      groups,
      labels,
      cells,
      asOfSequence,
      referenceVersion: reference?.version ?? null,
      flagged: flagsOf(rep, prevalence).map((f) => ({ ...f, interval: interval(f.interval) as unknown as readonly [number, number] })), // JSON: an unbounded end is null
      cleared: clearedOf(rep, prevalence, fairness.minRepresentation).map((f) => ({ ...f, interval: interval(f.interval) as unknown as readonly [number, number] })),
      caps,
    };
    const handled = await this.shell.handle(privacyStreamId(command.datasetId), { type: 'Release', release }, command.context, { now });
    const recorded = handled.events[0] as (typeof handled.events)[number];
    const left = remainingOf(handled.state, requester, caps);
    const views = { patients: partView(parts.patients), images: partView(parts.images), annotations: partView(parts.annotations) };
    const view = (value: number, part: ReturnType<typeof partView>) => countView(value, part.sd, part.halfWidth95);
    return {
      releaseId: release.releaseId,
      sequence: recorded.globalSeq,
      datasetId: command.datasetId,
      query: release.query,
      epsilon: release.query.epsilon,
      remaining: { requester: epsilonText(left.requester), dataset: epsilonText(left.dataset) },
      mechanism: {
        name: 'discrete-laplace',
        note: 'Each count carries independent discrete Laplace noise (Canonne, Kamath and Steinke 2020, exact integer sampling); the privacy unit is the patient; image and label contributions are clipped per patient at the stated bounds; ε is split 1/2 patients, 1/4 images, 1/4 annotations. Intervals are 95% for the noise only.',
      },
      parts: views,
      cells: cells.map((c: ReleasedCell) => ({
        group: c.group,
        patients: view(c.patients, views.patients),
        images: view(c.images, views.images),
        annotations: Object.fromEntries(labels.map((l) => [l, view(c.annotations[l] ?? 0, views.annotations)])),
      })),
      ...(reference ? { representation: rep.map((r) => ({ ...r, interval: interval(r.interval) })) } : {}),
      labelPrevalence: prevalence.map((p) => ({ ...p, interval: interval(p.interval) })),
      flagged: release.flagged,
      reference: reference ? { version: reference.version, source: reference.data.source } : null,
    };
  }
}

export class BalancePlanQuery extends Query<unknown> {
  constructor(
    readonly datasetId: string,
    readonly epsilon: unknown,
    readonly by: unknown,
    readonly principal: Principal,
    /** A hypothetical number of patients (?total=), when no release of these dimensions exists to estimate from. */
    readonly total?: unknown,
  ) {
    super();
  }
}

/** ?total=: a whole number of patients from 1 to 10^9, or absent. */
function planTotal(raw: unknown): number | null {
  if (raw === undefined) return null;
  if (typeof raw !== 'string' || !/^[1-9][0-9]{0,8}$/.test(raw) ) throw new ValidationError('total must be a whole number of patients from 1 to 999999999', { field: 'total' }, 'bad-total');
  return Number(raw);
}

/** What a release at ε would cost in noise, from public parameters only: nothing is read of the data, nothing spent or recorded. */
@QueryHandler(BalancePlanQuery)
export class BalancePlanHandler implements IQueryHandler<BalancePlanQuery, unknown> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
  ) {}

  async execute(query: BalancePlanQuery): Promise<unknown> {
    const fairness = this.config.fairness;
    const q = balanceQuery(query.epsilon, query.by, fairness);
    const dataset = await datasetOf(this.directory, query.datasetId);
    standing(query.principal, dataset);
    const parts = releaseParts(q.epsilonMicros, { images: fairness.clipImages, annotations: fairness.clipAnnotations });
    const { events, state } = await ledgerState(this.store, query.datasetId);
    const left = remainingOf(state, query.principal.sub, capsOf(fairness));
    const domains = groupDomains(fairness.ethnicityGroups);
    const given = planTotal(query.total);
    // The cells' sizes are estimated from the latest release of the same dimensions: its noisy
    // counts are public already (post-processing spends nothing); failing that, a total the
    // caller names. The dataset itself is never read.
    const latest = given === null ? latestRelease(events, q.by) : null;
    const order = cellsOf(q.by, domains);
    const estimatedCells = latest ? order.map((g) => Math.max(0, latest.cells.get(cellKey(q.by, g)) ?? 0)) : null;
    const reference = await currentReference(this.store, query.datasetId);
    const plan = planFor({
      epsilonMicros: q.epsilonMicros,
      clips: { images: fairness.clipImages, annotations: fairness.clipAnnotations },
      by: q.by,
      domains,
      estimatedCells,
      total: given,
      reference: reference?.data.shares ?? null,
      minRatio: fairness.minRepresentation,
    });
    return {
      datasetId: query.datasetId,
      query: { by: q.by, epsilon: epsilonText(q.epsilonMicros) },
      spends: '0',
      remaining: { requester: epsilonText(left.requester), dataset: epsilonText(left.dataset) },
      affordable: q.epsilonMicros <= Math.min(left.requester, left.dataset),
      estimates: latest ? { from: 'latest-release', releaseId: latest.releaseId, sequence: latest.sequence, note: 'the noisy patient counts of the latest release of these dimensions, negatives as 0' } : given !== null ? { from: 'total', total: given, note: 'a total named by the caller; no cell estimates' } : null,
      reference: reference ? { version: reference.version, source: reference.data.source } : null,
      cellCount: order.length,
      parts: { patients: partView(parts.patients), images: partView(parts.images), annotations: partView(parts.annotations) },
      cells: plan.cells,
      total: plan.total,
      minRatio: plan.minRatio,
      groups: plan.groups,
      method: plan.method,
    };
  }
}

/** The latest release of exactly these dimensions: its noisy patients per cell. */
function latestRelease(events: readonly StoredEvent[], by: readonly Dimension[]): { releaseId: string; sequence: number; cells: Map<string, number> } | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as StoredEvent;
    const d = privacyCodec.decode(e).data;
    if (d.query.by.length !== by.length || d.query.by.some((x, j) => x !== by[j])) continue;
    return { releaseId: d.releaseId, sequence: e.globalSeq, cells: new Map(d.cells.map((c) => [cellKey(by, c.group), c.patients])) };
  }
  return null;
}

export class PrivacyLedgerQuery extends Query<unknown> {
  constructor(
    readonly datasetId: string,
    readonly principal: Principal,
  ) {
    super();
  }
}

/** The ledger is the privacy stream itself: every release, who spent what, and what is left. */
@QueryHandler(PrivacyLedgerQuery)
export class PrivacyLedgerHandler implements IQueryHandler<PrivacyLedgerQuery, unknown> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
  ) {}

  async execute(query: PrivacyLedgerQuery): Promise<unknown> {
    const dataset = await datasetOf(this.directory, query.datasetId);
    const who = standing(query.principal, dataset);
    const caps = capsOf(this.config.fairness);
    const { events, state } = await ledgerState(this.store, query.datasetId);
    const entries = events.map((e) => {
      const d = privacyCodec.decode(e).data;
      return { releaseId: d.releaseId, sequence: e.globalSeq, at: e.occurredAt, requester: d.requester, epsilon: epsilonText(d.epsilonMicros), by: d.query.by };
    });
    const mine = (r: string) => who === 'oversight' || r === query.principal.sub;
    const left = remainingOf(state, query.principal.sub, caps);
    return {
      datasetId: query.datasetId,
      items: entries.filter((e) => mine(e.requester)),
      spentBy: Object.fromEntries(Object.entries(state.spentBy).filter(([r]) => mine(r)).map(([r, m]) => [r, epsilonText(m)])),
      spent: epsilonText(state.spent),
      releases: state.releases,
      caps: { perRequester: epsilonText(caps.perRequester), perDataset: epsilonText(caps.perDataset), perRelease: epsilonText(this.config.fairness.epsilonMaxPerRelease) },
      remaining: { requester: epsilonText(left.requester), dataset: epsilonText(left.dataset) },
      version: events.length,
    };
  }
}

export class SetReferencePopulationCommand {
  constructor(
    readonly datasetId: string,
    readonly source: unknown,
    readonly shares: unknown,
    readonly ifMatch: number | undefined,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(SetReferencePopulationCommand)
export class SetReferencePopulationHandler implements ICommandHandler<SetReferencePopulationCommand, { datasetId: string; version: number }> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) clock: Clock,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
  ) {
    this.shell = referenceShell(store, clock);
  }

  async execute(c: SetReferencePopulationCommand): Promise<{ datasetId: string; version: number }> {
    await datasetOf(this.directory, c.datasetId);
    const reference = { datasetId: c.datasetId, source: c.source, shares: c.shares } as ReferencePopulationSetData; // checked by the decider
    try {
      const handled = await this.shell.handle(referencePopulationStreamId(c.datasetId), { type: 'SetReference', reference, ethnicityGroups: this.config.fairness.ethnicityGroups }, c.context, c.ifMatch !== undefined ? { expectedVersion: c.ifMatch } : {});
      return { datasetId: c.datasetId, version: handled.version };
    } catch (e) {
      if (c.ifMatch !== undefined && e instanceof ConcurrencyError && e.code === 'concurrency-conflict') {
        throw new PreconditionFailedError(`the reference population is at version ${e.actualVersion}, not ${c.ifMatch}`, { currentVersion: e.actualVersion }, 'stale-version');
      }
      throw e;
    }
  }
}

export class ReferencePopulationQuery extends Query<unknown> {
  constructor(
    readonly datasetId: string,
    readonly principal: Principal,
  ) {
    super();
  }
}

@QueryHandler(ReferencePopulationQuery)
export class ReferencePopulationHandler implements IQueryHandler<ReferencePopulationQuery, { datasetId: string; source: string; shares: unknown; version: number }> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
  ) {}

  async execute(query: ReferencePopulationQuery): Promise<{ datasetId: string; source: string; shares: unknown; version: number }> {
    standing(query.principal, await datasetOf(this.directory, query.datasetId));
    const found = await currentReference(this.store, query.datasetId);
    if (!found) throw new NotFoundError(`dataset ${query.datasetId} has no reference population`, { datasetId: query.datasetId }, 'no-reference');
    return { datasetId: query.datasetId, source: found.data.source, shares: found.data.shares, version: found.version };
  }
}

export const BALANCE_HANDLERS = [BalanceReportHandler, BalancePlanHandler, PrivacyLedgerHandler, SetReferencePopulationHandler, ReferencePopulationHandler];
