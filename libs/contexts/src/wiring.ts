import type { AccessRecorder, ConsentAnswer, ConsentPort, PolicyInForce } from '@custos/access';
import { policyVersionOf, RULES_DIGEST } from '@custos/authz';
import type { ConsentReader, ConsentRules, DatasetSnapshots, LegalClaimsRetention } from '@custos/consent';
import { snapshotsWithImages } from '@custos/annotation';
import type { Database } from '@custos/event-store';
import { retainedForLegalClaims } from '@custos/sentinel';
import type { LogReadRecorder } from '@custos/log';
import type { Purpose } from '@custos/vocabulary';

/**
 * Access asks consent through its own port; this is where the two contexts meet (neither
 * depends on the other): the consent stream read once, every category answered, and the
 * condition that pins the decision's append to the version read.
 */
export function consentPortFrom(reader: ConsentReader): ConsentPort {
  return {
    async consentFor(patientId, purpose, categories, at, requester, options): Promise<ConsentAnswer> {
      const { condition, byCategory } = await reader.effective(patientId, purpose, categories, at, requester, options);
      const granted = Object.fromEntries(Object.entries(byCategory).map(([c, e]) => [c, e.granted]));
      return { version: condition.version, granted, condition };
    },
  };
}

/** The policy in force: the rules' digest with the consent parameters that change decisions. */
export function policyInForce(rules: ConsentRules): PolicyInForce {
  const parameters = { consentDefaultGranted: [...rules.defaultGranted].sort(), consentRestrictable: [...rules.restrictable].sort() };
  return { version: policyVersionOf(RULES_DIGEST, parameters), rulesDigest: RULES_DIGEST, parameters };
}

/** The consent rules back from a policy's recorded parameters (the inverse of `policyInForce`). */
export function consentRulesOf(parameters: Readonly<Record<string, unknown>>): ConsentRules | undefined {
  const { consentDefaultGranted: d, consentRestrictable: r } = parameters;
  if (!Array.isArray(d) || !Array.isArray(r)) return undefined;
  return { defaultGranted: d as Purpose[], restrictable: r as Purpose[] };
}

/** Reads of the log (exports) recorded in access's audit trail: the log depends on no context. */
export function logReadRecorderFrom(recorder: AccessRecorder): LogReadRecorder {
  return { auditRead: (context, read) => recorder.auditRead(context, read) };
}

/** Consent's dataset withdrawals name the snapshots holding the images: annotation's read model. */
export function datasetSnapshotsFrom(db: Database): DatasetSnapshots {
  return { withImages: (datasetId, imageIds) => snapshotsWithImages(db, datasetId, imageIds) };
}

/** An erasure (consent) names the records kept for legal claims: the incidents (sentinel). */
export function legalClaimsRetentionFrom(db: Database): LegalClaimsRetention {
  return { retainedFor: (patientId) => retainedForLegalClaims(db, patientId) };
}
