import { randomUUID } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, EventStore, handle, type StoredEvent } from '@custos/event-store';
import { NotFoundError, UnprocessableError } from '@custos/errors';
import { Clock } from '@custos/platform';
import { fold } from '@custos/decider';
import { type IncidentCommand, incidentDecider, type IncidentView } from './domain/incident.decide.js';
import { type EvidenceRef, incidentStreamId, type IncidentOpenedData } from './domain/incident.events.js';
import { incidentCodec } from './sentinel-runner.js';

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
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

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
    const handled = await handle(this.store, incidentStreamId(incidentId), incidentDecider, { type: 'OpenIncident', opened }, context, { codec: incidentCodec, now: this.clock.now(), expectedVersion: 'no-stream' });
    return { incidentId, version: handled.version, state: 'OPEN', recorded: handled.events.length };
  }
}

@CommandHandler(ActOnIncidentCommand)
export class ActOnIncidentHandler implements ICommandHandler<ActOnIncidentCommand, IncidentChange> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ incidentId, command, context }: ActOnIncidentCommand): Promise<IncidentChange> {
    const handled = await handle(this.store, incidentStreamId(incidentId), incidentDecider, command(this.clock.now().toISOString()), context, { codec: incidentCodec, now: this.clock.now() });
    if (!handled.state) throw new NotFoundError('no such incident', { incidentId }, 'incident-not-found');
    return { incidentId, version: handled.version, state: handled.state.state, recorded: handled.events.length };
  }
}

export const INCIDENT_HANDLERS = [OpenIncidentHandler, ActOnIncidentHandler];
