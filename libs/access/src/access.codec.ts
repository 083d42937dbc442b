import { commandShell, conditionFailed, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { accessDecider, policyDecider, reviewDecider } from './domain/access.decide.js';
import type { AccessEvent, EmergencyAccessReviewed, PolicyActivated } from './domain/access.events.js';

/** AccessDecided v2 records the policy version; v1 decisions predate it and read as `null`. */
export const accessCodec = eventCodec<AccessEvent>({
  AccessDecided: { version: 2, upcast: { 1: (data) => ({ ...(data as object), policyVersion: null }) } },
  RouteAccessDenied: { version: 1 },
  AuditDataRead: { version: 1 },
  DicomTransferEnded: { version: 1 },
  DicomSearchRecorded: { version: 1 },
  AccessReported: { version: 1 },
  AccessReportReceived: { version: 1 },
});

export const reviewCodec = eventCodec<EmergencyAccessReviewed>({ EmergencyAccessReviewed: { version: 1 } });
export const policyCodec = eventCodec<PolicyActivated>({ PolicyActivated: { version: 1 } });

/**
 * The access context's command shells. A decision is appended on condition that the consent
 * it read has not moved: when it has, it is decided again on fresh consent (up to 20 times).
 */
export const accessShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: accessDecider, codec: accessCodec, retry: { when: conditionFailed, attempts: 20 } });
export const reviewShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: reviewDecider, codec: reviewCodec });
/** Two gateways starting at once: the loser reads the policy recorded and records nothing. */
export const policyShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: policyDecider, codec: policyCodec, retry: { when: (e) => e.code === 'concurrency-conflict', attempts: 3 } });
