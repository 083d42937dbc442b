import { accessContext } from '@custos/access';
import { annotationContext } from '@custos/annotation';
import { consentContext } from '@custos/consent';
import { EventStore1764000000000, StreamChain1764000010000 } from '@custos/event-store';
import { imagingContext } from '@custos/imaging';
import { dicomwebContext } from '@custos/dicomweb';
import { fairnessContext } from '@custos/fairness';
import { sentinelContext } from '@custos/sentinel';
import { ProjectionFaults1764000015100, Projections1764000001000, StreamCatalogueProjection } from '@custos/projections';
import { Keys1764000005000 } from '@custos/keys';
import { Cosignatures1764000012000, Log1764000009000, LogTiles1764000013000 } from '@custos/log';
import { type CustosContext, migrationsOf, personalFieldsOf, projectionsOf } from '@custos/kernel';

/**
 * Every context of Custos, listed once: apps, the CLI and the tests take their migrations,
 * read models and gateway providers from here. Order is migration order.
 */
export const CONTEXTS: readonly CustosContext[] = [
  { name: 'event-store', migrations: [EventStore1764000000000, StreamChain1764000010000] },
  { name: 'projections', migrations: [Projections1764000001000, ProjectionFaults1764000015100], projections: () => [new StreamCatalogueProjection()] },
  { name: 'keys', migrations: [Keys1764000005000] },
  { name: 'log', migrations: [Log1764000009000, Cosignatures1764000012000, LogTiles1764000013000] },
  imagingContext,
  accessContext,
  consentContext,
  annotationContext,
  sentinelContext,
  dicomwebContext,
  fairnessContext,
];

export const ALL_MIGRATIONS = migrationsOf(CONTEXTS);

/** Every event type's personal fields: what the key service seals. */
export const PERSONAL_FIELDS = personalFieldsOf(CONTEXTS);

/** Every read model, in one list: live projection and replay use the same. */
export function allProjections() {
  return projectionsOf(CONTEXTS);
}
export * from './verify-decisions.js';
export * from './wiring.js';
