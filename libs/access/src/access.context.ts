import { ACCESS_PERSONAL } from './domain/access.events.js';
import type { CustosContext } from '@custos/kernel';
import { ACCESS_COMMAND_HANDLERS, AccessDecisions, AccessRecorder } from './access.handlers.js';
import { ACCESS_QUERY_HANDLERS } from './access.queries.js';
import { IngestAuditEventsHandler } from './audit-ingest.handler.js';
import { AccessTrailProjection } from './access-trail.repository.js';
import { Access1764000002000 } from './migrations/1764000002000-access.js';
import { AuditReads1764000004000 } from './migrations/1764000004000-audit-reads.js';
import { SealedReviews1764000006000 } from './migrations/1764000006000-sealed-reviews.js';
import { ReportedAccesses1764000019300 } from './migrations/1764000019300-reported-accesses.js';
import { PolicyActivation } from './policy.js';

/** Access decisions, refusals, audit reads, reviews, accesses other systems report: the trail. Needs ConsentPort, ImageDirectory and POLICY wired by the app. */
export const accessContext: CustosContext = {
  name: 'access',
  personal: ACCESS_PERSONAL,
  migrations: [Access1764000002000, AuditReads1764000004000, SealedReviews1764000006000, ReportedAccesses1764000019300],
  projections: () => [new AccessTrailProjection()],
  gatewayProviders: () => [...ACCESS_COMMAND_HANDLERS, IngestAuditEventsHandler, ...ACCESS_QUERY_HANDLERS, AccessDecisions, AccessRecorder, PolicyActivation],
};
