import type { AccessRecorder, ConsentAnswer, ConsentPort, PolicyInForce } from '@custos/access';
import { policyVersionOf, RULES_DIGEST } from '@custos/authz';
import { type ConsentReader, type ConsentRules, type DatasetModels, type DatasetSnapshots, datasetWithdrawals, type LegalClaimsRetention, patientsOfImages } from '@custos/consent';
import { snapshotsWithImages } from '@custos/annotation';
import type { Database } from '@custos/event-store';
import { modelsOnSnapshots, type TrainingConsent } from '@custos/fairness';
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

/**
 * The model card's consent since training: consent's read models (which patient each image is
 * of, who withdrew AI_TRAINING and when), asked for a snapshot's images and position.
 */
export function trainingConsentFrom(db: Database): TrainingConsent {
  return {
    async since(datasetId, imageIds, since) {
      const images = new Set(imageIds);
      const patients = await patientsOfImages(db, imageIds);
      const withdrawn = (await datasetWithdrawals(db, datasetId)).filter((w) => w.withdrawnSequence > since && w.images.some((i) => images.has(i))).map((w) => w.patientId);
      return { patients: patients.length, withdrawn };
    },
  };
}

/** Consent's dataset withdrawals name the models trained or validated on the snapshots: fairness's read model. */
export function datasetModelsFrom(db: Database): DatasetModels {
  return { onSnapshots: (datasetId, snapshotIds) => modelsOnSnapshots(db, datasetId, snapshotIds) };
}
