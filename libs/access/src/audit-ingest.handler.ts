import { Inject, Optional } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { createHash } from 'node:crypto';
import type { Principal } from '@custos/authz';
import { ConcurrencyError } from '@custos/errors';
import { type AppendRequest, type CommandContext, EventStore, metadataFor, type StoredEvent } from '@custos/event-store';
import { CUSTOS_CONFIG } from '@custos/kernel';
import { Clock, type CustosConfig } from '@custos/platform';
import { accessDecider } from './domain/access.decide.js';
import { type AccessReportedData, accessStreamId, REPORTED_UNRESOLVED_STREAM, reportMarkerStreamId } from './domain/access.events.js';
import { DEFAULT_PATIENT_DOMAIN, parseIngest, type PatientDomain, reportedAccessOf } from './domain/fhir-audit-ingest.js';
import { accessCodec } from './access.codec.js';
import { InvalidAuditEventError } from './access.errors.js';

/** One AuditEvent of an ingest, as recorded (or as first recorded, for a duplicate). */
export interface IngestedEntry {
  /** Its FHIR path in what was posted (`AuditEvent`, `Bundle.entry[2].resource`). */
  readonly path: string;
  readonly auditEventId: string;
  /** The AccessReported event (the original one for a duplicate). */
  readonly eventId: string;
  readonly sequence: number;
  readonly patientId: string | null;
  /** A retry of an AuditEvent this source had already reported: nothing new was recorded. */
  readonly duplicate: boolean;
}

export interface IngestResult {
  readonly kind: 'AuditEvent' | 'batch' | 'transaction';
  readonly accepted: number;
  readonly duplicates: number;
  readonly entries: readonly IngestedEntry[];
}

export class IngestAuditEventsCommand {
  constructor(
    readonly body: unknown,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

/** How often an ingest that met a concurrent identical one is tried again (each time with fewer new entries). */
const ATTEMPTS = 5;

/**
 * Records other systems' AuditEvents as AccessReported events: all-or-nothing (a Bundle of
 * type batch is taken whole too), each with a marker stream per (source, AuditEvent id)
 * appended in the same transaction with expected version "no stream". A retry, or a
 * concurrent identical post, meets the marker: that entry is answered with the original
 * event and `duplicate: true`, and nothing new is recorded for it.
 */
@CommandHandler(IngestAuditEventsCommand)
export class IngestAuditEventsHandler implements ICommandHandler<IngestAuditEventsCommand, IngestResult> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Optional() @Inject(CUSTOS_CONFIG) config?: Pick<CustosConfig, 'auditIngest'>,
  ) {
    this.domain = config?.auditIngest ? { systems: config.auditIngest.patientSystems, fhirBases: config.auditIngest.fhirBases } : DEFAULT_PATIENT_DOMAIN;
  }

  /** What names a Custos patient (AUDIT_INGEST_PATIENT_SYSTEMS, AUDIT_INGEST_FHIR_BASE). */
  private readonly domain: PatientDomain;

  async execute({ body, principal, context }: IngestAuditEventsCommand): Promise<IngestResult> {
    const now = this.clock.now();
    const parsed = parseIngest(body, now, this.domain);
    if (!parsed.ok) throw new InvalidAuditEventError(parsed.issues);
    const client = principal.sub;
    const digest = createHash('sha256').update(client).digest('hex').slice(0, 32);
    const entries = parsed.value.entries.map(({ path, event }) => {
      const data = reportedAccessOf(event, client);
      return { path, data, marker: reportMarkerStreamId(digest, data.auditEventId), stream: data.patientId ? accessStreamId(data.patientId) : REPORTED_UNRESOLVED_STREAM };
    });
    const known = new Map<string, IngestedEntry>();
    for (let attempt = 1; ; attempt++) {
      const fresh = entries.filter((e) => !known.has(e.marker));
      if (fresh.length === 0) break;
      const requests: AppendRequest[] = fresh.flatMap((e) => {
        const [event] = accessDecider.decide({ type: 'RecordReportedAccess', data: e.data }, null);
        const marker = accessCodec.encode({ type: 'AccessReportReceived', data: { sourceClient: client, auditEventId: e.data.auditEventId, streamId: e.stream } });
        return [
          // The marker first, the report right after it in the same item: positions n and n + 1.
          { streamId: e.marker, events: [{ ...marker, metadata: metadataFor(context), occurredAt: now }], expectedVersion: 'no-stream' },
          { streamId: e.stream, events: [{ ...accessCodec.encode(event!), metadata: metadataFor(context, e.data.patientId), occurredAt: now }], expectedVersion: 'any' },
        ];
      });
      try {
        const results = await this.store.appendBatch(requests);
        fresh.forEach((e, i) => {
          const stored = results[2 * i + 1]!.events[0]!;
          known.set(e.marker, { path: e.path, auditEventId: e.data.auditEventId, eventId: stored.eventId, sequence: stored.globalSeq, patientId: e.data.patientId, duplicate: false });
        });
        break;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= ATTEMPTS) throw error;
        // Some were reported before (a retry) or meanwhile (a concurrent post): answer those
        // with the originals, and try the rest again.
        for (const e of fresh) {
          const original = await this.original(e.marker, client, e.data);
          if (original) known.set(e.marker, { path: e.path, auditEventId: e.data.auditEventId, ...original, duplicate: true });
        }
      }
    }
    const answered = entries.map((e) => known.get(e.marker)!);
    const duplicates = answered.filter((e) => e.duplicate).length;
    return { kind: parsed.value.kind, accepted: answered.length - duplicates, duplicates, entries: answered };
  }

  /** The AccessReported a marker stands for: the event right after the marker, else found in its stream. */
  private async original(marker: string, client: string, data: AccessReportedData): Promise<{ eventId: string; sequence: number; patientId: string | null } | undefined> {
    const [mark] = await this.store.readStream(marker);
    if (!mark) return undefined;
    const matches = (e: StoredEvent | undefined) => e?.type === 'AccessReported' && (e.data as AccessReportedData).auditEventId === data.auditEventId && (e.data as AccessReportedData).source?.client === client;
    const [next] = await this.store.readAll(mark.globalSeq + 1, 1);
    const stream = (mark.data as { streamId?: string }).streamId;
    const found = matches(next) ? next : stream ? (await this.store.readStream(stream)).find(matches) : undefined;
    // The original's patient, as first reported (a retry that differs does not correct it).
    return found ? { eventId: found.eventId, sequence: found.globalSeq, patientId: (found.data as AccessReportedData).patientId ?? null } : undefined;
  }
}
