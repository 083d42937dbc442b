import { commandShell, conditionFailed, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { annotationDecider } from './domain/annotation.decide.js';
import { datasetDecider } from './domain/dataset.decide.js';
import { snapshotDecider } from './snapshots.js';
import { agreementDecider } from './domain/agreement.decide.js';
import type { AnnotationEvent, DatasetConfigured, DatasetSnapshotted, GroupAgreementMeasured } from './domain/annotation.events.js';

export const datasetCodec = eventCodec<DatasetConfigured>({ DatasetConfigured: { version: 1 } });
export const annotationCodec = eventCodec<AnnotationEvent>({
  AnnotationCreated: { version: 1 },
  AnnotationEdited: { version: 1 },
  AnnotationDeleted: { version: 1 },
  AnnotationReviewed: { version: 1 },
});
export const snapshotCodec = eventCodec<DatasetSnapshotted>({ DatasetSnapshotted: { version: 1 } });
export const agreementCodec = eventCodec<GroupAgreementMeasured>({ GroupAgreementMeasured: { version: 1 } });

/**
 * The annotation context's command shells. Creating and editing an annotation, and taking a
 * snapshot, are appended on condition that the consent read has not moved: when it has, they
 * are decided again on fresh consent.
 */
export const datasetShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: datasetDecider, codec: datasetCodec });
export const annotationShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: annotationDecider, codec: annotationCodec, retry: { when: conditionFailed, attempts: 20 } });
export const snapshotShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: snapshotDecider, codec: snapshotCodec, retry: { when: conditionFailed, attempts: 10 } });
/** A group's agreement (stream `agreement-<datasetId>`): appended on the version read; two measurers racing decide again on the fresh state. */
export const agreementShell = (store: EventStore, clock: Clock) =>
  commandShell({ store, clock, decider: agreementDecider, codec: agreementCodec, retry: { when: (e) => e.code === 'concurrency-conflict', attempts: 10 } });
