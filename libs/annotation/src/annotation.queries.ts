import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { NotFoundError } from '@custos/errors';
import { Database, EventStore } from '@custos/event-store';
import { ImageDirectory } from '@custos/imaging';
import { leafHash } from '@custos/merkle';
import { Clock, type CustosConfig } from '@custos/platform';
import { CUSTOS_CONFIG } from '@custos/kernel';
import { projectedPosition } from '@custos/projections';
import { AnnotationDirectory } from './annotation-directory.js';
import { readSnapshot } from './annotation.handlers.js';
import type { DatasetConfiguredData, DatasetSnapshottedData, SnapshotEntry } from './domain/annotation.events.js';
import { type DatasetQuality, datasetQuality, type Demographics } from './quality.js';
import { entryBytes, entryProof } from './snapshots.js';

export class DatasetQuery extends Query<DatasetConfiguredData & { version: number }> {
  constructor(readonly datasetId: string) {
    super();
  }
}

/** A dataset's settings as they stand, with their version (404 not-found). */
@QueryHandler(DatasetQuery)
export class DatasetHandler implements IQueryHandler<DatasetQuery, DatasetConfiguredData & { version: number }> {
  constructor(@Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory) {}

  async execute({ datasetId }: DatasetQuery): Promise<DatasetConfiguredData & { version: number }> {
    const found = await this.directory.dataset(datasetId);
    if (!found) throw new NotFoundError(`no dataset ${datasetId}`, undefined, 'not-found');
    return { ...found.config, version: found.version };
  }
}

export class SnapshotQuery extends Query<DatasetSnapshottedData> {
  constructor(
    readonly datasetId: string,
    readonly snapshotId: string,
  ) {
    super();
  }
}

/** A snapshot of this dataset as recorded (404 not-found, also when it is another dataset's). */
@QueryHandler(SnapshotQuery)
export class SnapshotHandler implements IQueryHandler<SnapshotQuery, DatasetSnapshottedData> {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  async execute({ datasetId, snapshotId }: SnapshotQuery): Promise<DatasetSnapshottedData> {
    const snapshot = await readSnapshot(this.store, datasetId, snapshotId);
    if (!snapshot) throw new NotFoundError('no such snapshot of this dataset', undefined, 'not-found');
    return snapshot;
  }
}

export class SnapshotProofQuery extends Query<SnapshotProof> {
  constructor(
    readonly datasetId: string,
    readonly snapshotId: string,
    readonly annotationId: string,
  ) {
    super();
  }
}

export interface SnapshotProof {
  readonly snapshotId: string;
  readonly annotationId: string;
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leaf: string;
  readonly leafHash: string;
  readonly auditPath: string[];
  readonly rootHash: string;
  readonly encoding: string;
}

/** An RFC 9162 inclusion proof of one annotation in a snapshot, hashes in hex. */
@QueryHandler(SnapshotProofQuery)
export class SnapshotProofHandler implements IQueryHandler<SnapshotProofQuery, SnapshotProof> {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  async execute({ datasetId, snapshotId, annotationId }: SnapshotProofQuery): Promise<SnapshotProof> {
    const snapshot = await readSnapshot(this.store, datasetId, snapshotId);
    if (!snapshot) throw new NotFoundError('no such snapshot of this dataset', undefined, 'not-found');
    const index = snapshot.entries.findIndex((e) => e.annotationId === annotationId);
    if (index < 0) throw new NotFoundError('this annotation is not in the snapshot', { annotationId }, 'not-in-snapshot');
    const entry = snapshot.entries[index] as SnapshotEntry;
    return {
      snapshotId,
      annotationId,
      leafIndex: index,
      treeSize: snapshot.treeSize,
      leaf: entryBytes(entry).toString('utf8'),
      leafHash: leafHash(entryBytes(entry)).toString('hex'),
      auditPath: entryProof(snapshot.entries, index).map((h) => h.toString('hex')),
      rootHash: snapshot.rootHash,
      encoding: 'hex; leaf hash SHA-256(0x00 || leaf), node SHA-256(0x01 || left || right), RFC 9162 section 2.1',
    };
  }
}

export class DatasetQualityQuery extends Query<DatasetQuality | QualityWithoutGroups> {
  constructor(
    readonly datasetId: string,
    /** Exact counts per demographic group: for readers who may read demographics anyway (stewards); others get the audit without them. */
    readonly withGroups = true,
  ) {
    super();
  }
}

/** The audit without its per-group part: exact small counts per group would tell which group a newly annotated patient is in. */
export type QualityWithoutGroups = Omit<DatasetQuality, 'demographics' | 'agreementFlags'> & { demographics: null; agreementFlags: null; groupsWithheld: string };

/** The dataset's quality audit from the read models, with the demographics its images were registered with. */
@QueryHandler(DatasetQualityQuery)
export class DatasetQualityHandler implements IQueryHandler<DatasetQualityQuery, DatasetQuality | QualityWithoutGroups> {
  constructor(
    @Inject(AnnotationDirectory) private readonly directory: AnnotationDirectory,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
  ) {}

  async execute({ datasetId, withGroups }: DatasetQualityQuery): Promise<DatasetQuality | QualityWithoutGroups> {
    if (!(await this.directory.dataset(datasetId))) throw new NotFoundError(`no dataset ${datasetId}`, undefined, 'not-found');
    const demographicsOf = async (imageId: string): Promise<Demographics | null> => {
      const d = (await this.images.image(imageId))?.demographics as Partial<Demographics> | undefined;
      return d && typeof d.sex === 'string' && (typeof d.birthYear === 'number' || d.birthYear === null) && typeof d.ethnicity === 'string' ? (d as Demographics) : null;
    };
    if (!withGroups) {
      const audit = await datasetQuality(this.db, datasetId, async () => null, this.clock.now(), await projectedPosition(this.db), this.config.fairness.minKappa);
      return {
        ...audit,
        demographics: null,
        agreementFlags: null,
        groupsWithheld: 'exact counts per demographic group are for data stewards (who may read demographics); the balance report (GET /v1/datasets/{id}/balance) gives them under differential privacy',
      };
    }
    return datasetQuality(this.db, datasetId, demographicsOf, this.clock.now(), await projectedPosition(this.db), this.config.fairness.minKappa);
  }
}

export const ANNOTATION_QUERY_HANDLERS = [DatasetHandler, SnapshotHandler, SnapshotProofHandler, DatasetQualityHandler];
