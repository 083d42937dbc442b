import { EventStore, type StoredEvent } from '@custos/event-store';
import type { PayloadCipher } from '@custos/keys';
import type { ImageRegisteredData } from './domain/image.events.js';
import { imageStreamId, studyStreamId } from './domain/image.events.js';
import { imageCodec, studyCodec } from './image.codec.js';

/** Whose an image is and which dataset it entered (what a decision needs to know of it). */
export interface ImageOwner {
  readonly patientId: string;
  readonly datasetId: string;
}

export interface RegisteredImage extends ImageRegisteredData {
  readonly registeredAt: string;
}

/**
 * Images as other contexts see them, read from the event store itself (no projection lag).
 * A port: access decisions depend on it, tests may swap it.
 */
export abstract class ImageDirectory {
  abstract owner(imageId: string): Promise<ImageOwner | null>;
  abstract image(imageId: string): Promise<RegisteredImage | null>;
  /** Whether any image of this patient is registered (a patient record exists). */
  abstract patientKnown(patientId: string): Promise<boolean>;
  /** Whose a DICOM study is, as bound when its first instance was registered; null when Custos has not registered it. */
  abstract study(studyUid: string): Promise<ImageOwner | null>;
}

/**
 * The store-backed directory. An image's owner never changes once registered, so a known
 * answer is kept (bounded, oldest out first); an unknown image is asked of the store each time.
 */
export class StoreImageDirectory extends ImageDirectory {
  private readonly owners = new Map<string, ImageOwner>();
  private readonly studies = new Map<string, ImageOwner>();

  constructor(
    private readonly store: EventStore,
    /** Opens the sealed demographics (the caller decides who sees them); without it they stay sealed. */
    private readonly cipher?: PayloadCipher,
    private readonly maxCached = 100_000,
  ) {
    super();
  }

  async owner(imageId: string): Promise<ImageOwner | null> {
    const known = this.owners.get(imageId);
    if (known) return known;
    const image = await this.registered(imageId);
    return image ? { patientId: image.data.patientId, datasetId: image.data.datasetId } : null;
  }

  async image(imageId: string): Promise<RegisteredImage | null> {
    const registered = await this.registered(imageId);
    if (!registered) return null;
    const data = (this.cipher ? await this.cipher.open(registered) : registered).data;
    return { ...data, registeredAt: registered.occurredAt };
  }

  /** The registration as stored (demographics sealed). */
  private async registered(imageId: string): Promise<{ data: ImageRegisteredData; occurredAt: string } | null> {
    const [registered] = await this.store.readStream(imageStreamId(imageId));
    if (!registered) return null;
    const data = imageCodec.decode(registered).data;
    this.remember(imageId, { patientId: data.patientId, datasetId: data.datasetId });
    return { data, occurredAt: (registered as StoredEvent).occurredAt };
  }

  async study(studyUid: string): Promise<ImageOwner | null> {
    const known = this.studies.get(studyUid);
    if (known) return known;
    const [registered] = await this.store.readStream(studyStreamId(studyUid));
    if (!registered) return null;
    const { patientId, datasetId } = studyCodec.decode(registered).data;
    // A study's patient never changes once bound (the decider refuses another), so it is kept.
    if (this.studies.size >= this.maxCached) this.studies.delete(this.studies.keys().next().value as string);
    this.studies.set(studyUid, { patientId, datasetId });
    return { patientId, datasetId };
  }

  patientKnown(patientId: string): Promise<boolean> {
    return this.store.patientHasEvent(patientId, 'ImageRegistered');
  }

  private remember(imageId: string, owner: ImageOwner): void {
    if (this.owners.has(imageId)) return;
    if (this.owners.size >= this.maxCached) this.owners.delete(this.owners.keys().next().value as string);
    this.owners.set(imageId, owner);
  }
}
