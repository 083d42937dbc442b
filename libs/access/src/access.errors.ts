import { ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';

/** What a caller is told of a recorded decision. */
export interface AccessDecisionResult {
  readonly eventId: string;
  readonly sequence: number;
  readonly patientId: string | null;
  readonly decision: 'PERMIT' | 'DENY';
  readonly rule: string;
  readonly reason: string;
  readonly emergency: boolean;
  readonly consentVersion: number;
  readonly policyVersion: string;
  readonly demographics?: 'included' | 'withheld';
}

/** A recorded DENY (403): the problem carries the decision; `consent-not-granted` has its own code. */
export class AccessDeniedError extends ForbiddenError {
  constructor(readonly decision: AccessDecisionResult) {
    super(decision.reason, { ...decision }, decision.rule === 'consent-not-granted' ? 'consent-not-granted' : 'access-denied');
  }
}

/**
 * The resource is unknown, or the caller may not learn that it exists (404). Recorded like
 * any refusal; the body is the same in both cases, so it is no existence oracle.
 */
export class UnknownResourceError extends NotFoundError {
  constructor(resourceType: string, resourceId: string) {
    super(`no ${resourceType} ${resourceId} is known`, { resourceType, resourceId }, 'unknown-resource');
  }
}

/**
 * A posted AuditEvent or Bundle that does not hold (400 `invalid-audit-event`): the problem is
 * also a FHIR OperationOutcome (`resourceType` and `issue` members, each issue with its FHIR
 * path in `expression`), so a FHIR client and a problem+json client read the same answer.
 */
export class InvalidAuditEventError extends ValidationError {
  constructor(issues: ReadonlyArray<{ severity: string; code: string; diagnostics: string; expression: readonly string[] }>) {
    super(`the AuditEvent is not one Custos can record: ${issues.length} issue(s), the first at ${issues[0]?.expression[0] ?? '$'}`, { resourceType: 'OperationOutcome', issue: issues }, 'invalid-audit-event');
  }
}
