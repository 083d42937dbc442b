import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, EventStore, type StoredEvent } from '@custos/event-store';
import { NotFoundError, UnprocessableError, ValidationError } from '@custos/errors';
import { Clock, parseInstant, parseOptionalInstant } from '@custos/platform';
import { fold } from '@custos/decider';
import {
  type AddPatients,
  type AssessBreach,
  type AssignIncident,
  type ChangeSeverity,
  type DateDiscovery,
  type IncidentCommand,
  incidentDecider,
  type IncidentView,
  type PlaceHold,
  type RecordNotification,
  type RecordVerdict,
  type ReopenIncident,
  type TransitionIncident,
} from './domain/incident.decide.js';
import { sameActor } from './domain/reference.events.js';
import { type EvidenceRef, incidentStreamId, type IncidentOpenedData } from './domain/incident.events.js';
import { LOOK_BACK_MS } from './incident.queries.js';
import { incidentCodec, incidentShell } from './sentinel-runner.js';
import { REGION_CODE } from '@custos/vocabulary';

/** A case opened by hand, as the officer asked: dates as written, evidence by event id. */
export interface OpenIncidentInput {
  readonly title: string;
  readonly severity: IncidentOpenedData['severity'];
  readonly subject: IncidentOpenedData['subject'];
  readonly patientIds?: readonly string[];
  /** Event ids in the log: the store gives each one's sequence and hash. */
  readonly evidence?: readonly string[];
  readonly discoveredAt?: string;
}

/** An officer opens a case by hand. */
export class OpenIncidentCommand extends Command<IncidentChange> {
  constructor(
    readonly input: OpenIncidentInput,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** Who acts (`by`) and when (`at`) are the handler's: the caller's id and the clock. */
type Asked<C> = C extends unknown ? Omit<C, 'by' | 'at' | 'involved'> : never;

/**
 * A step on a case as an officer asks for it: dates as written (the handler parses them),
 * evidence by event id (resolved against the store), the rest as the decider takes it.
 */
export type IncidentStep =
  | Asked<TransitionIncident>
  | { readonly type: 'AttachEvidence'; readonly eventIds: readonly string[]; readonly note: string }
  | Asked<AssessBreach>
  | Asked<RecordNotification>
  | Asked<PlaceHold>
  | Asked<RecordVerdict>
  | Asked<AddPatients>
  | Asked<ReopenIncident>
  | Asked<ChangeSeverity>
  | Asked<AssignIncident>
  | Asked<DateDiscovery>;

/** Any other step on a case: the decider says whether it may be taken, by the caller, now. */
export class ActOnIncidentCommand extends Command<IncidentChange> {
  constructor(
    readonly incidentId: string,
    readonly step: IncidentStep,
    readonly context: CommandContext,
  ) {
    super();
  }
}

export interface IncidentChange {
  readonly incidentId: string;
  readonly version: number;
  readonly state: IncidentView['state'];
  readonly recorded: number;
}

/** Evidence by event id, resolved against the store: an id that names no event is a 422. */
export async function evidenceFor(store: EventStore, eventIds: readonly string[]): Promise<EvidenceRef[]> {
  const out: EvidenceRef[] = [];
  for (const id of eventIds) {
    const e = await store.readEvent(id);
    if (!e) throw new UnprocessableError(`no event ${id} in the log`, { eventId: id }, 'unknown-event');
    out.push({ eventId: e.eventId, sequence: e.globalSeq, hash: e.hash });
  }
  return out;
}

export async function readIncident(store: EventStore, incidentId: string): Promise<{ view: IncidentView; events: StoredEvent[] } | null> {
  const events = await store.readStream(incidentStreamId(incidentId));
  if (events.length === 0) return null;
  const view = fold(incidentDecider, events.map((e) => incidentCodec.decode(e)));
  return view ? { view, events } : null;
}

@CommandHandler(OpenIncidentCommand)
export class OpenIncidentHandler implements ICommandHandler<OpenIncidentCommand, IncidentChange> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {
    this.shell = incidentShell(store, clock);
  }

  async execute({ input, context }: OpenIncidentCommand): Promise<IncidentChange> {
    const discovered = parseOptionalInstant('discoveredAt', input.discoveredAt);
    // As when it is moved later (DateDiscovery): a discovery cannot lie in the future.
    if (discovered && discovered.getTime() > this.clock.now().getTime()) throw new ValidationError('discovery cannot lie in the future', undefined, 'bad-date');
    const now = this.clock.now().toISOString();
    const incidentId = `inc-${randomUUID()}`;
    const opened: IncidentOpenedData = {
      incidentId,
      source: 'officer',
      title: input.title,
      severity: input.severity,
      subject: { kind: input.subject.kind, id: input.subject.id },
      detectionIds: [],
      rules: [],
      patientIds: [...new Set(input.patientIds ?? [])],
      discoveredAt: discovered?.toISOString() ?? now,
      openedAt: now,
      evidence: await evidenceFor(this.store, input.evidence ?? []),
    };
    const handled = await this.shell.handle(incidentStreamId(incidentId), { type: 'OpenIncident', opened }, context, { expectedVersion: 'no-stream' });
    return { incidentId, version: handled.version, state: 'OPEN', recorded: handled.events.length };
  }
}

/** What "accessed the patient" means: a data access decided (granted or denied). Oversight reads of the patient's trail or consents (AuditDataRead) do not count. */
const PATIENT_ACCESS_TYPES = ['AccessDecided'] as const;

/**
 * Whether `actor` accessed the patient a case is about within its window (30 days before
 * discovery to now), as the log shows (not a projection, which may lag): such an officer is
 * involved and may not work the case. Ids compare as the decider compares the case's subject.
 */
export async function accessedPatientInWindow(store: EventStore, patientId: string, actor: string, view: Pick<IncidentView, 'discoveredAt'>, now: Date): Promise<boolean> {
  const actors = await store.patientActors(patientId, PATIENT_ACCESS_TYPES, new Date(Date.parse(view.discoveredAt) - LOOK_BACK_MS), now);
  return actors.some((a) => sameActor(a, actor));
}

@CommandHandler(ActOnIncidentCommand)
export class ActOnIncidentHandler implements ICommandHandler<ActOnIncidentCommand, IncidentChange> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {
    this.shell = incidentShell(store, clock);
  }

  async execute({ incidentId, step, context }: ActOnIncidentCommand): Promise<IncidentChange> {
    // What the request says is checked first (a bad date, counts or evidence is refused before the case is read).
    const command = await this.prepare(step);
    const now = this.clock.now();
    let decided = command(context.actor.id, now.toISOString());
    // For a patient's case, whoever accessed that patient in the window is involved (separation of duties, decided by the decider).
    const current = await readIncident(this.store, incidentId);
    if (current?.view.subject.kind === 'patient' && (await accessedPatientInWindow(this.store, current.view.subject.id, decided.by, current.view, now))) decided = { ...decided, involved: true };
    const handled = await this.shell.handle(incidentStreamId(incidentId), decided, context, { now });
    if (!handled.state) throw new NotFoundError('no such incident', { incidentId }, 'incident-not-found');
    return { incidentId, version: handled.version, state: handled.state.state, recorded: handled.events.length };
  }

  /** The decider's command for a step, once its dates are parsed and its evidence found; who and when are added last. */
  private async prepare(step: IncidentStep): Promise<(by: string, at: string) => Exclude<IncidentCommand, { type: 'OpenIncident' | 'LinkDetection' }>> {
    switch (step.type) {
      case 'AttachEvidence': {
        const evidence = await evidenceFor(this.store, step.eventIds);
        return (by, at) => ({ type: 'AttachEvidence', evidence, note: step.note, by, at });
      }
      case 'AssessBreach': {
        const { factors, decision, rationale, affected } = step.assessment;
        const byRegion: Record<string, number> = {};
        for (const [k, v] of Object.entries(affected.byRegion ?? {})) {
          if (!REGION_CODE.test(k) || !Number.isInteger(v) || v < 0 || v > 1_000_000_000) throw new ValidationError('affected.byRegion maps region codes (CA, US-CA, FR-IDF, EU) to counts', { region: k.slice(0, 100) }, 'bad-counts');
          byRegion[k] = v;
        }
        const assessment = { factors: { ...factors }, decision, rationale, affected: { total: affected.total, byRegion, euResidents: affected.euResidents } };
        return (by, at) => ({ type: 'AssessBreach', assessment, by, at });
      }
      case 'RecordNotification': {
        const date = parseInstant('date', step.date).toISOString();
        // A notification is dated by what was sent, not by when it is recorded (now: the decider refuses a date after it).
        return (by, at) => ({ type: 'RecordNotification', recipientClass: step.recipientClass, channel: step.channel, date, contentHash: step.contentHash, by, at });
      }
      case 'PlaceHold': {
        const from = parseInstant('from', step.from).toISOString();
        const until = step.until !== undefined ? parseInstant('until', step.until).toISOString() : undefined;
        return (by, at) => ({ type: 'PlaceHold', kind: step.kind, agency: step.agency, ...(step.reference !== undefined ? { reference: step.reference } : {}), from, ...(until ? { until } : {}), by, at });
      }
      case 'DateDiscovery': {
        const discoveredAt = parseInstant('discoveredAt', step.discoveredAt).toISOString();
        const awareAt = step.awareAt !== undefined ? parseInstant('awareAt', step.awareAt).toISOString() : undefined;
        return (by, at) => ({ type: 'DateDiscovery', discoveredAt, ...(awareAt ? { awareAt } : {}), note: step.note, by, at });
      }
      case 'TransitionIncident':
        return (by, at) => ({ type: 'TransitionIncident', to: step.to, note: step.note, by, at });
      case 'RecordVerdict':
        return (by, at) => ({ type: 'RecordVerdict', verdict: step.verdict, note: step.note, by, at });
      case 'AddPatients':
        return (by, at) => ({ type: 'AddPatients', patientIds: step.patientIds, note: step.note, by, at });
      case 'ReopenIncident':
        return (by, at) => ({ type: 'ReopenIncident', note: step.note, by, at });
      case 'ChangeSeverity':
        return (by, at) => ({ type: 'ChangeSeverity', to: step.to, reason: step.reason, by, at });
      case 'AssignIncident':
        return (by, at) => ({ type: 'AssignIncident', assignee: step.assignee, by, at });
    }
  }
}

export const INCIDENT_HANDLERS = [OpenIncidentHandler, ActOnIncidentHandler];
