import { AnnotationOwners } from '@custos/access';
import { fold } from '@custos/decider';
import type { EventStore, StoredEvent } from '@custos/event-store';
import { annotationCodec, datasetCodec } from './annotation.codec.js';
import { type AnnotationState, evolveAnnotation, initialAnnotationState } from './domain/annotation.decide.js';
import { annotationStreamId, type DatasetConfiguredData, datasetStreamId } from './domain/annotation.events.js';

/**
 * Datasets and annotations as the other parts of Custos see them, read from the event store
 * itself (no projection lag). An annotation's owner never changes once created, so known
 * owners are kept (bounded, oldest out first).
 */
export class AnnotationDirectory extends AnnotationOwners {
  private readonly owners = new Map<string, { patientId: string; datasetId: string }>();

  constructor(
    private readonly store: EventStore,
    private readonly maxCached = 100_000,
  ) {
    super();
  }

  async dataset(datasetId: string): Promise<{ config: DatasetConfiguredData; version: number } | null> {
    const events = await this.store.readStream(datasetStreamId(datasetId));
    const last = events[events.length - 1];
    if (!last) return null;
    return { config: datasetCodec.decode(last).data, version: last.version };
  }

  /** The annotation's events as stored (personal fields sealed) and its state. */
  async annotation(annotationId: string): Promise<{ events: StoredEvent[]; state: AnnotationState; version: number } | null> {
    const events = await this.store.readStream(annotationStreamId(annotationId));
    if (events.length === 0) return null;
    const state = fold({ initialState: initialAnnotationState, evolve: evolveAnnotation }, events.map((e) => annotationCodec.decode(e)));
    return { events, state, version: (events[events.length - 1] as StoredEvent).version };
  }

  async owner(annotationId: string): Promise<{ patientId: string; datasetId: string } | null> {
    const known = this.owners.get(annotationId);
    if (known) return known;
    const [first] = await this.store.readStream(annotationStreamId(annotationId), { fromVersion: 1 });
    if (!first || first.type !== 'AnnotationCreated') return null;
    const created = annotationCodec.decode(first);
    if (created.type !== 'AnnotationCreated') return null;
    const owner = { patientId: created.data.patientId, datasetId: created.data.datasetId };
    if (this.owners.size >= this.maxCached) this.owners.delete(this.owners.keys().next().value as string);
    this.owners.set(annotationId, owner);
    return owner;
  }
}
