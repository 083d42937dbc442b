import { AnnotationOwners } from '@custos/access';
import { EventStore } from '@custos/event-store';
import type { CustosContext } from '@custos/kernel';
import { ANNOTATION_HANDLERS } from './annotation.handlers.js';
import { ANNOTATION_QUERY_HANDLERS } from './annotation.queries.js';
import { AnnotationDirectory } from './annotation-directory.js';
import { AgreementWatch } from './agreement-watch.js';
import { AnnotationsProjection, SnapshotImagesProjection } from './annotations.projection.js';
import { ANNOTATION_PERSONAL } from './domain/annotation.events.js';
import { Annotation1764000007000 } from './migrations/1764000007000-annotation.js';
import { AnnotationReviews1764000008000 } from './migrations/1764000008000-annotation-reviews.js';

/** Datasets and annotations: every label edit an event. Needs ImageDirectory, ConsentPort and AccessDecisions wired by the app. */
export const annotationContext: CustosContext = {
  name: 'annotation',
  personal: ANNOTATION_PERSONAL,
  migrations: [Annotation1764000007000, AnnotationReviews1764000008000],
  projections: () => [new AnnotationsProjection(), new SnapshotImagesProjection()],
  gatewayProviders: () => [
    ...ANNOTATION_HANDLERS,
    ...ANNOTATION_QUERY_HANDLERS,
    { provide: AnnotationDirectory, useFactory: (store: EventStore) => new AnnotationDirectory(store), inject: [EventStore] },
    { provide: AnnotationOwners, useExisting: AnnotationDirectory },
    AgreementWatch,
  ],
};
