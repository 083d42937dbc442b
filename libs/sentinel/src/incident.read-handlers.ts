import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { canReadPersonal, type Principal } from '@custos/authz';
import { fold } from '@custos/decider';
import { Database, EventStore, type StoredEvent } from '@custos/event-store';
import { ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
import { PayloadCipher } from '@custos/keys';
import { Clock, parseOptionalInstant } from '@custos/platform';
import { type AffectedCounts, type Clock as LegalClock, countAffected, incidentClocks, mergeAffected } from './domain/clocks.js';
import { incidentDecider, type IncidentView } from './domain/incident.decide.js';
import { incidentStreamId } from './domain/incident.events.js';
import { detectionStreamId } from './domain/rules.js';
import { notificationDrafts } from './domain/notification-draft.js';
import { sameActor } from './domain/reference.events.js';
import { readIncident } from './incident.handlers.js';
import { type AffectedPatient, affectedPatients, blastRadius, type BlastRadius, caseWindow, firstEvidenceAccess, type IncidentRow, listIncidents, toCsv } from './incident.queries.js';
import { detectionToOcsf, incidentToOcsf, ocsfOfLog } from './ocsf.js';
import { incidentCodec } from './sentinel-runner.js';

/**
 * The reads of incidents and of the log for a SIEM, each a query on the bus. Every answer is
 * built here (the decider folded, sealed parts opened for whoever may read them, CSV and NDJSON
 * rendered); the edge only negotiates the format and sends what it gets.
 */

/** An answer already rendered as text: the edge sends it as is, with its media type and headers. */
export class RenderedText {
  constructor(
    readonly mediaType: 'text/csv; charset=utf-8' | 'application/x-ndjson',
    readonly text: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

const csv = (text: string) => new RenderedText('text/csv; charset=utf-8', text);
const ndjson = (text: string, headers?: Readonly<Record<string, string>>) => new RenderedText('application/x-ndjson', text, headers);

/** JSON, or CSV (a spreadsheet for the officer). */
export type TableFormat = 'json' | 'csv';

/** A case as its events make it, or a 404. */
async function incidentOr404(store: EventStore, incidentId: string): Promise<{ view: IncidentView; events: StoredEvent[] }> {
  const found = await readIncident(store, incidentId);
  if (!found) throw new NotFoundError(`no incident ${incidentId}`, undefined, 'incident-not-found');
  return found;
}

/** Whether a case is about this reader (an actor's case, ids folded as the decider folds them). */
const isAbout = (subject: { readonly kind: string; readonly id: string }, reader: Principal): boolean => subject.kind === 'actor' && sameActor(subject.id, reader.sub);

/**
 * A case for a reader, or a 404; a 403 separation-of-duties for the officer it is about, who
 * reads none of it (not the investigators' notes, not the evidence, not the clocks).
 */
async function incidentFor(store: EventStore, incidentId: string, reader: Principal): Promise<{ view: IncidentView; events: StoredEvent[] }> {
  const found = await incidentOr404(store, incidentId);
  if (isAbout(found.view.subject, reader)) throw new ForbiddenError('this incident is about you: another officer reads it', { incidentId }, 'separation-of-duties');
  return found;
}

/** The list's filters as the caller wrote them (dates as written: parsed here). */
export interface IncidentListRequest {
  readonly state?: string;
  readonly severity?: string;
  readonly rule?: string;
  readonly actor?: string;
  readonly patient?: string;
  readonly from?: string;
  readonly to?: string;
  readonly cursor?: string;
  readonly limit?: number;
}

export interface IncidentPage {
  readonly items: IncidentRow[];
  readonly nextCursor: string | null;
}

/** The page leaves out cases about the reader (they read none of them). */
export class ListIncidentsQuery extends Query<IncidentPage> {
  constructor(
    readonly request: IncidentListRequest,
    readonly reader: Principal,
  ) {
    super();
  }
}

@QueryHandler(ListIncidentsQuery)
export class ListIncidentsHandler implements IQueryHandler<ListIncidentsQuery> {
  constructor(@Inject(Database) private readonly db: Database) {}

  async execute({ request, reader }: ListIncidentsQuery): Promise<IncidentPage> {
    const { from: fromText, to: toText, limit, ...filters } = request;
    const from = parseOptionalInstant('from', fromText);
    const to = parseOptionalInstant('to', toText);
    const page = await listIncidents(this.db, { ...filters, ...(from ? { from } : {}), ...(to ? { to } : {}), limit: limit ?? 50 });
    // The cursor follows the rows read, so leaving some out here skips none after them.
    return { items: page.items.filter((i) => !isAbout(i.subject, reader)), nextCursor: page.next };
  }
}

/** One case, its sealed title opened for a reader entitled to it. */
export class IncidentQuery extends Query<IncidentAnswer> {
  constructor(
    readonly incidentId: string,
    readonly reader: Principal,
  ) {
    super();
  }
}

export type IncidentAnswer = IncidentView & { readonly title: unknown; readonly version: number };

@QueryHandler(IncidentQuery)
export class IncidentHandler implements IQueryHandler<IncidentQuery> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
  ) {}

  async execute({ incidentId, reader }: IncidentQuery): Promise<IncidentAnswer> {
    const { view, events } = await incidentFor(this.store, incidentId, reader);
    // The title is sealed at rest: opened here for the officer (the case's view never holds it).
    const opened = events[0] ? await this.cipher.reveal(events[0], (field) => canReadPersonal(reader, null, field)) : null;
    return { ...view, title: (opened?.data as { title?: unknown } | undefined)?.title ?? null, version: events.length };
  }
}

export class IncidentClocksQuery extends Query<IncidentClocksAnswer> {
  constructor(
    readonly incidentId: string,
    readonly reader: Principal,
  ) {
    super();
  }
}

export interface IncidentClocksAnswer {
  readonly incidentId: string;
  readonly asOf: string;
  readonly discoveredAt: string;
  readonly awareAt: string;
  readonly affected: AffectedCounts;
  readonly clocks: LegalClock[];
  readonly history: IncidentView['clockHistory'];
}

@QueryHandler(IncidentClocksQuery)
export class IncidentClocksHandler implements IQueryHandler<IncidentClocksQuery> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ incidentId, reader }: IncidentClocksQuery): Promise<IncidentClocksAnswer> {
    const { view } = await incidentFor(this.store, incidentId, reader);
    const now = this.clock.now();
    const observed = countAffected(await affectedPatients(this.db, view, now));
    // The counts the clocks run on: the assessment's merged with the record's, shown as such.
    const affected = mergeAffected(view.assessment?.affected, observed);
    return { incidentId: view.incidentId, asOf: now.toISOString(), discoveredAt: view.discoveredAt, awareAt: view.awareAt, affected, clocks: incidentClocks(view, now, observed), history: view.clockHistory };
  }
}

/** The blast radius in a window (dates as written; by default the case's window up to now). */
export class BlastRadiusQuery extends Query<BlastRadius> {
  constructor(
    readonly incidentId: string,
    readonly window: { readonly from?: string; readonly to?: string },
    readonly reader: Principal,
  ) {
    super();
  }
}

@QueryHandler(BlastRadiusQuery)
export class BlastRadiusHandler implements IQueryHandler<BlastRadiusQuery> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ incidentId, window, reader }: BlastRadiusQuery): Promise<BlastRadius> {
    const { view } = await incidentFor(this.store, incidentId, reader);
    const to = parseOptionalInstant('to', window.to) ?? this.clock.now();
    const from = parseOptionalInstant('from', window.from) ?? caseWindow(view, to).from;
    if (to.getTime() <= from.getTime()) throw new ValidationError('to must be after from', undefined, 'bad-window');
    return blastRadius(this.db, view, from, to);
  }
}

export interface AffectedPatientsAnswer {
  readonly incidentId: string;
  readonly items: AffectedPatient[];
}

export class AffectedPatientsQuery extends Query<AffectedPatientsAnswer | RenderedText> {
  constructor(
    readonly incidentId: string,
    readonly format: TableFormat,
    readonly reader: Principal,
  ) {
    super();
  }
}

@QueryHandler(AffectedPatientsQuery)
export class AffectedPatientsHandler implements IQueryHandler<AffectedPatientsQuery> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ incidentId, format, reader }: AffectedPatientsQuery): Promise<AffectedPatientsAnswer | RenderedText> {
    const { view } = await incidentFor(this.store, incidentId, reader);
    const items = await affectedPatients(this.db, view, this.clock.now());
    if (format === 'csv') {
      return csv(
        toCsv(
          ['patientId', 'region', 'country', 'euDataSubject', 'dataCategories', 'accesses', 'consentVersions'],
          items.map((i) => ({ ...i, accesses: i.accesses.length, consentVersions: [...new Set(i.accesses.map((a) => a.consentVersion))] })),
        ),
      );
    }
    return { incidentId: view.incidentId, items };
  }
}

export interface NotificationDraftsAnswer {
  readonly incidentId: string;
  readonly drafts: ReturnType<typeof notificationDrafts>;
}

export class NotificationDraftsQuery extends Query<NotificationDraftsAnswer> {
  constructor(
    readonly incidentId: string,
    readonly reader: Principal,
  ) {
    super();
  }
}

@QueryHandler(NotificationDraftsQuery)
export class NotificationDraftsHandler implements IQueryHandler<NotificationDraftsQuery> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ incidentId, reader }: NotificationDraftsQuery): Promise<NotificationDraftsAnswer> {
    const { view } = await incidentFor(this.store, incidentId, reader);
    const patients = await affectedPatients(this.db, view, this.clock.now());
    const drafts = notificationDrafts(view, {
      affected: countAffected(patients),
      breachStart: await firstEvidenceAccess(this.db, view),
      dataCategories: [...new Set(patients.flatMap((x) => x.dataCategories))].sort(),
      records: patients.reduce((n, x) => n + x.accesses.length, 0),
    });
    return { incidentId: view.incidentId, drafts };
  }
}

/** The case for a SIEM, in OCSF (the only format; anything else asked for is a 400). */
export class IncidentExportQuery extends Query<RenderedText> {
  constructor(
    readonly incidentId: string,
    readonly format: unknown,
    readonly reader: Principal,
  ) {
    super();
  }
}

@QueryHandler(IncidentExportQuery)
export class IncidentExportHandler implements IQueryHandler<IncidentExportQuery> {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  async execute({ incidentId, format, reader }: IncidentExportQuery): Promise<RenderedText> {
    if (format !== undefined && format !== 'ocsf') throw new ValidationError('format must be ocsf', undefined, 'bad-format');
    const { view, events } = await incidentFor(this.store, incidentId, reader);
    const lines: string[] = [];
    for (const id of view.detectionIds) {
      const [e] = await this.store.readStream(detectionStreamId(id));
      if (e) lines.push(JSON.stringify(detectionToOcsf(e)));
    }
    // The case as it stood after each of its events: evolved one event at a time.
    let upTo = incidentDecider.initialState;
    for (const e of events) {
      upTo = incidentDecider.evolve(upTo, incidentCodec.decode(e));
      if (upTo) lines.push(JSON.stringify(incidentToOcsf(e, upTo)));
    }
    return ndjson(`${lines.join('\n')}\n`);
  }
}

/** The case's events in order, with the officers' notes opened for a reader entitled to them. */
export class IncidentTimelineQuery extends Query<TimelineAnswer | RenderedText> {
  constructor(
    readonly incidentId: string,
    readonly format: TableFormat,
    readonly reader: Principal,
  ) {
    super();
  }
}

/** A type, not an interface: a row `toCsv` takes as it is. */
export type TimelineItem = {
  readonly sequence: number;
  readonly eventId: string;
  readonly hash: string;
  readonly at: string;
  readonly by: string;
  readonly type: string;
  readonly data: unknown;
};

export interface TimelineAnswer {
  readonly incidentId: string;
  readonly items: TimelineItem[];
}

@QueryHandler(IncidentTimelineQuery)
export class IncidentTimelineHandler implements IQueryHandler<IncidentTimelineQuery> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
  ) {}

  async execute({ incidentId, format, reader }: IncidentTimelineQuery): Promise<TimelineAnswer | RenderedText> {
    const { events } = await incidentFor(this.store, incidentId, reader);
    const items: TimelineItem[] = [];
    for (const e of events) {
      const shown = await this.cipher.reveal(e, (field) => canReadPersonal(reader, null, field));
      const decoded = incidentCodec.decode(shown);
      items.push({ sequence: e.globalSeq, eventId: e.eventId, hash: e.hash, at: e.occurredAt, by: e.metadata.actor.id, type: e.type, data: decoded.data });
    }
    if (format === 'csv') return csv(toCsv(['sequence', 'at', 'type', 'by', 'eventId', 'hash', 'data'], items));
    return { incidentId, items };
  }
}

/** The log after a sequence (-1 or absent: from the start), as OCSF for a SIEM. */
export class SiemEventsQuery extends Query<RenderedText> {
  constructor(readonly page: { readonly after?: number; readonly limit?: number }) {
    super();
  }
}

/** Resume with `?after=` this header's value. */
export const NEXT_AFTER_HEADER = 'x-custos-next-after';

@QueryHandler(SiemEventsQuery)
export class SiemEventsHandler implements IQueryHandler<SiemEventsQuery> {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  async execute({ page: asked }: SiemEventsQuery): Promise<RenderedText> {
    const after = asked.after ?? -1;
    const page = await this.store.readAll(after + 1, asked.limit ?? 1000);
    const streams = new Map<string, StoredEvent[]>();
    // Each incident event as the case stood at its version: the stream read once per page, folded up to it.
    const ocsf = await ocsfOfLog(page, async (incidentId, version) => {
      let events = streams.get(incidentId);
      if (!events) streams.set(incidentId, (events = await this.store.readStream(incidentStreamId(incidentId))));
      return fold(incidentDecider, events.filter((e) => e.version <= version).map((e) => incidentCodec.decode(e)));
    });
    const next = String(page.length > 0 ? (page[page.length - 1]?.globalSeq ?? after) : after);
    return ndjson(ocsf.map((o) => JSON.stringify(o)).join('\n') + (ocsf.length > 0 ? '\n' : ''), { [NEXT_AFTER_HEADER]: next });
  }
}

export const INCIDENT_QUERY_HANDLERS = [
  ListIncidentsHandler,
  IncidentHandler,
  IncidentClocksHandler,
  BlastRadiusHandler,
  AffectedPatientsHandler,
  NotificationDraftsHandler,
  IncidentExportHandler,
  IncidentTimelineHandler,
  SiemEventsHandler,
];
