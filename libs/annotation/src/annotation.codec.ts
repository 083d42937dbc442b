import { commandShell, conditionFailed, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { annotationDecider } from './domain/annotation.decide.js';
import { datasetDecider } from './domain/dataset.decide.js';
import { snapshotDecider } from './snapshots.js';
import type { AnnotationEvent, DatasetConfigured, DatasetSnapshotted } from './domain/annotation.events.js';

export const datasetCodec = eventCodec<DatasetConfigured>({ DatasetConfigured: { version: 1 } });
export const annotationCodec = eventCodec<AnnotationEvent>({
  AnnotationCreated: { version: 1 },
  AnnotationEdited: { version: 1 },
  AnnotationDeleted: { version: 1 },
  AnnotationReviewed: { version: 1 },
});
export const snapshotCodec = eventCodec<DatasetSnapshotted>({ DatasetSnapshotted: { version: 1 } });

/**
 * The annotation context's command shells. Creating and editing an annotation, and taking a
 * snapshot, are appended on condition that the consent read has not moved: when it has, they
 * are decided again on fresh consent.
 */
export const datasetShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: datasetDecider, codec: datasetCodec });
export const annotationShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: annotationDecider, codec: annotationCodec, retry: { when: conditionFailed, attempts: 20 } });
export const snapshotShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: snapshotDecider, codec: snapshotCodec, retry: { when: conditionFailed, attempts: 10 } });
