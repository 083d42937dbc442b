import { eventCodec } from '@custos/event-store';
import type { AccessEvent, EmergencyAccessReviewed, PolicyActivated } from './domain/access.events.js';

/** AccessDecided v2 records the policy version; v1 decisions predate it and read as `null`. */
export const accessCodec = eventCodec<AccessEvent>({
  AccessDecided: { version: 2, upcast: { 1: (data) => ({ ...(data as object), policyVersion: null }) } },
  RouteAccessDenied: { version: 1 },
  AuditDataRead: { version: 1 },
});

export const reviewCodec = eventCodec<EmergencyAccessReviewed>({ EmergencyAccessReviewed: { version: 1 } });
export const policyCodec = eventCodec<PolicyActivated>({ PolicyActivated: { version: 1 } });
