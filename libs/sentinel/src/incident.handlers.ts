import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, Database, EventStore, type StoredEvent } from '@custos/event-store';
import { NotFoundError, UnprocessableError } from '@custos/errors';
import { Clock } from '@custos/platform';
import { fold } from '@custos/decider';
import { type IncidentCommand, incidentDecider, type IncidentView } from './domain/incident.decide.js';
import { type EvidenceRef, incidentStreamId, type IncidentOpenedData } from './domain/incident.events.js';
import { LOOK_BACK_MS } from './incident.queries.js';
import { incidentCodec, incidentShell } from './sentinel-runner.js';

/** An officer opens a case by hand (evidence named by event id; the store gives sequence and hash). */
export class OpenIncidentCommand {
  constructor(
    readonly input: { title: string; severity: IncidentOpenedData['severity']; subject: IncidentOpenedData['subject']; patientIds: readonly string[]; evidenceEventIds: readonly string[]; discoveredAt?: string },
    readonly context: CommandContext,
  ) {}
}

/** Any other step on a case: the decider says whether it may be taken. Commands carry `by` and `at` from the caller and the clock. */
export class ActOnIncidentCommand {
  constructor(
    readonly incidentId: string,
    readonly command: (now: string) => IncidentCommand,
    readonly context: CommandContext,
  ) {}
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
    const now = this.clock.now().toISOString();
    const incidentId = `inc-${randomUUID()}`;
    const opened: IncidentOpenedData = {
      incidentId,
      source: 'officer',
      title: input.title,
      severity: input.severity,
      subject: input.subject,
      detectionIds: [],
      rules: [],
      patientIds: [...new Set(input.patientIds)],
      discoveredAt: input.discoveredAt ?? now,
      openedAt: now,
      evidence: await evidenceFor(this.store, input.evidenceEventIds),
    };
    const handled = await this.shell.handle(incidentStreamId(incidentId), { type: 'OpenIncident', opened }, context, { expectedVersion: 'no-stream' });
    return { incidentId, version: handled.version, state: 'OPEN', recorded: handled.events.length };
  }
}

/**
 * Whether `actor` accessed the patient a case is about within its window (30 days before
 * discovery to now), as the trail shows: such an officer is involved and may not work the case.
 */
export async function accessedPatientInWindow(db: Database, patientId: string, actor: string, view: Pick<IncidentView, 'discoveredAt'>, now: Date): Promise<boolean> {
  const [row] = await db.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM custos_rm_access_trail WHERE patient_id = $1 AND actor_id = $2 AND occurred_at >= $3 AND occurred_at <= $4 LIMIT 1) t`,
    [patientId, actor, new Date(Date.parse(view.discoveredAt) - LOOK_BACK_MS), now],
  );
  return Number(row?.n ?? 0) > 0;
}

@CommandHandler(ActOnIncidentCommand)
export class ActOnIncidentHandler implements ICommandHandler<ActOnIncidentCommand, IncidentChange> {
  private readonly shell;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(Database) private readonly db: Database,
  ) {
    this.shell = incidentShell(store, clock);
  }

  async execute({ incidentId, command, context }: ActOnIncidentCommand): Promise<IncidentChange> {
    const now = this.clock.now();
    let decided = command(now.toISOString());
    if (decided.type !== 'OpenIncident' && decided.type !== 'LinkDetection') {
      // For a patient's case, whoever accessed that patient in the window is involved (separation of duties, decided by the decider).
      const current = await readIncident(this.store, incidentId);
      if (current?.view.subject.kind === 'patient' && (await accessedPatientInWindow(this.db, current.view.subject.id, decided.by, current.view, now))) decided = { ...decided, involved: true };
    }
    const handled = await this.shell.handle(incidentStreamId(incidentId), decided, context, { now });
    if (!handled.state) throw new NotFoundError('no such incident', { incidentId }, 'incident-not-found');
    return { incidentId, version: handled.version, state: handled.state.state, recorded: handled.events.length };
  }
}

export const INCIDENT_HANDLERS = [OpenIncidentHandler, ActOnIncidentHandler];
