import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { canReadPersonal, type Principal } from '@custos/authz';
import { NotFoundError } from '@custos/errors';
import { Database, EventStore } from '@custos/event-store';
import { PayloadCipher } from '@custos/keys';
import { Clock } from '@custos/platform';
import { DATA_CATEGORIES, PURPOSES } from '@custos/vocabulary';
import { consentStreamId } from './domain/consent.events.js';
import { consentCodec } from './consent.codec.js';
import { toFhirConsents } from './consent-fhir.js';
import { ConsentReader, type PurposeView } from './consent-reader.js';
import { ConsentReceipts } from './consent.receipts.js';
import { datasetWithdrawals, type DatasetWithdrawal } from './dataset-withdrawals.repository.js';


/*
 * Reads of consent straight from the patient's stream (consent is small and must not lag),
 * except the dataset withdrawals, which are a read model.
 */

export interface ConsentNow {
  patientId: string;
  version: number;
  purposes: PurposeView[];
}

export class CurrentConsentQuery extends Query<{ version: number; answer: ConsentNow | Record<string, unknown> }> {
  constructor(
    readonly patientId: string,
    /** FHIR R4 Consent resources (a Bundle) rather than Custos's own view. */
    readonly fhir: boolean,
  ) {
    super();
  }
}

/** Consent per purpose as it stands now (defaults, expiries, purposes patients may not restrict), with the stream's version. */
@QueryHandler(CurrentConsentQuery)
export class CurrentConsentHandler implements IQueryHandler<CurrentConsentQuery, { version: number; answer: ConsentNow | Record<string, unknown> }> {
  constructor(
    @Inject(ConsentReader) private readonly reader: ConsentReader,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ patientId, fhir }: CurrentConsentQuery): Promise<{ version: number; answer: ConsentNow | Record<string, unknown> }> {
    const at = this.clock.now();
    const rules = this.reader.rules;
    const state = await this.reader.state(patientId);
    const purposes = PURPOSES.map((purpose): PurposeView => {
      const restrictable = rules.restrictable.includes(purpose);
      const explicit = state.purposes[purpose];
      if (!restrictable) return { purpose, status: 'granted', source: 'not-restrictable', restrictable, categories: [...DATA_CATEGORIES], expiresAt: null, recipients: [], version: 0 };
      if (!explicit) {
        const granted = rules.defaultGranted.includes(purpose);
        return { purpose, status: granted ? 'granted' : 'denied', source: 'default', restrictable, categories: granted ? [...DATA_CATEGORIES] : [], expiresAt: null, recipients: [], version: 0 };
      }
      const expired = explicit.status === 'granted' && explicit.expiresAt !== null && new Date(explicit.expiresAt).getTime() <= at.getTime();
      return {
        purpose,
        status: expired ? 'denied' : explicit.status,
        source: expired ? 'expired' : 'explicit',
        restrictable,
        categories: [...explicit.categories],
        expiresAt: explicit.expiresAt,
        recipients: [...explicit.recipients],
        version: explicit.version,
      };
    });
    return { version: state.version, answer: fhir ? toFhirConsents(patientId, purposes, at.toISOString()) : { patientId, version: state.version, purposes } };
  }
}

export class ConsentHistoryQuery extends Query<{ patientId: string; items: Array<Record<string, unknown>> }> {
  constructor(
    readonly patientId: string,
    readonly principal: Principal,
  ) {
    super();
  }
}

/** Every change, oldest first; personal fields in clear only where the reader is entitled to them. */
@QueryHandler(ConsentHistoryQuery)
export class ConsentHistoryHandler implements IQueryHandler<ConsentHistoryQuery, { patientId: string; items: Array<Record<string, unknown>> }> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
  ) {}

  async execute({ patientId, principal }: ConsentHistoryQuery): Promise<{ patientId: string; items: Array<Record<string, unknown>> }> {
    const events = await this.store.readStream(consentStreamId(patientId));
    const shown = await Promise.all(events.map((e) => this.cipher.reveal(e, (field) => canReadPersonal(principal, patientId, field))));
    const items = shown.map((e) => {
      const decoded = consentCodec.decode(e);
      const d = decoded.data;
      return {
        version: e.version,
        eventId: e.eventId,
        sequence: e.globalSeq,
        occurredAt: e.occurredAt,
        change: decoded.type === 'ConsentWithdrawn' ? 'withdrawn' : decoded.data.status,
        purpose: d.purpose,
        ...(decoded.type === 'ConsentChanged' ? { categories: decoded.data.categories, expiresAt: decoded.data.expiresAt, recipients: decoded.data.recipients } : {}),
        channel: d.channel,
        ...(d.capturedBy ? { capturedBy: d.capturedBy } : {}),
        ...(d.evidenceRef !== undefined ? { evidenceRef: d.evidenceRef } : {}),
        by: { id: e.metadata.actor.id, roles: e.metadata.actor.roles },
      };
    });
    return { patientId, items };
  }
}

export class ConsentReceiptQuery extends Query<{ version: number; eventId: string; receipt: string }> {
  constructor(
    readonly patientId: string,
    readonly version: number,
    readonly principal: Principal,
  ) {
    super();
  }
}

/** The signed receipt of one consent version, issued again (404 when there is no such version). */
@QueryHandler(ConsentReceiptQuery)
export class ConsentReceiptHandler implements IQueryHandler<ConsentReceiptQuery, { version: number; eventId: string; receipt: string }> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(ConsentReceipts) private readonly receipts: ConsentReceipts,
  ) {}

  async execute({ patientId, version, principal }: ConsentReceiptQuery): Promise<{ version: number; eventId: string; receipt: string }> {
    const event = (await this.store.readStream(consentStreamId(patientId))).find((e) => e.version === version);
    if (!event) throw new NotFoundError(`no consent version ${version} for this patient`, { version });
    return { version, eventId: event.eventId, receipt: await this.receipts.receiptFor(event, (field) => canReadPersonal(principal, patientId, field)) };
  }
}

/**
 * Which of a dataset's snapshots hold some of these images: the annotation context's read
 * model, wired by the app (consent depends on no other context).
 */
export abstract class DatasetSnapshots {
  abstract withImages(datasetId: string, imageIds: readonly string[]): Promise<Array<{ snapshotId: string; images: string[]; takenAt: string }>>;
}

/** Which registered models were trained or validated on some of a dataset's snapshots: the fairness context's read model, wired by the app. */
export abstract class DatasetModels {
  abstract onSnapshots(datasetId: string, snapshotIds: readonly string[]): Promise<DatasetModel[]>;
}

export interface DatasetModel {
  modelId: string;
  name: string;
  version: string;
  trainedOn: string[];
  validatedOn: string[];
}

export type DatasetWithdrawalItem = DatasetWithdrawal & { snapshots: Array<{ snapshotId: string; images: string[]; takenAt: string }> };

export type DatasetWithdrawals = { datasetId: string; items: DatasetWithdrawalItem[]; models: DatasetModel[] };

export class DatasetWithdrawalsQuery extends Query<DatasetWithdrawals> {
  constructor(readonly datasetId: string) {
    super();
  }
}

/**
 * Patients whose AI_TRAINING consent was withdrawn after images of theirs entered the dataset,
 * with the snapshots holding those images, and the models trained or validated on those snapshots.
 */
@QueryHandler(DatasetWithdrawalsQuery)
export class DatasetWithdrawalsHandler implements IQueryHandler<DatasetWithdrawalsQuery, DatasetWithdrawals> {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(DatasetSnapshots) private readonly snapshots: DatasetSnapshots,
    @Inject(DatasetModels) private readonly models: DatasetModels,
  ) {}

  async execute({ datasetId }: DatasetWithdrawalsQuery): Promise<DatasetWithdrawals> {
    const withdrawals = await datasetWithdrawals(this.db, datasetId);
    const items = await Promise.all(withdrawals.map(async (w) => ({ ...w, snapshots: await this.snapshots.withImages(datasetId, w.images) })));
    const snapshotIds = [...new Set(items.flatMap((i) => i.snapshots.map((s) => s.snapshotId)))];
    return { datasetId, items, models: await this.models.onSnapshots(datasetId, snapshotIds) };
  }
}

export const CONSENT_QUERY_HANDLERS = [CurrentConsentHandler, ConsentHistoryHandler, ConsentReceiptHandler, DatasetWithdrawalsHandler];
