import { eventCodec } from '@custos/event-store';
import type { AnnotationEvent, DatasetConfigured, DatasetSnapshotted } from './domain/annotation.events.js';

export const datasetCodec = eventCodec<DatasetConfigured>({ DatasetConfigured: { version: 1 } });
export const annotationCodec = eventCodec<AnnotationEvent>({
  AnnotationCreated: { version: 1 },
  AnnotationEdited: { version: 1 },
  AnnotationDeleted: { version: 1 },
  AnnotationReviewed: { version: 1 },
});
export const snapshotCodec = eventCodec<DatasetSnapshotted>({ DatasetSnapshotted: { version: 1 } });
