import { ANNOTATIONS_OF_IMAGE, type AccessDecidedData, accessCodec, decideAccess, type PolicyActivatedData, policyCodec, policyStreamId } from '@custos/access';
import { EMERGENCY_REASON_MIN, policyVersionOf, type Principal, RULES_DIGEST } from '@custos/authz';
import { consentAt, consentCodec, type ConsentRules, type ConsentState, consentStreamId, evolveConsent, initialConsentState, type Requester } from '@custos/consent';
import { type Database, EventStore, readLog, type StoredEvent } from '@custos/event-store';
import { ValidationError } from '@custos/errors';
import { imageCodec, studyCodec } from '@custos/imaging';
import { PayloadCipher } from '@custos/keys';
import { categoryOf } from '@custos/vocabulary';
import { consentRulesOf } from './wiring.js';

/** The first decision that does not follow from the policy and the consent at its position. */
export interface DecisionDeviation {
  readonly globalSeq: number;
  readonly eventId: string;
  /** The first field (in a fixed order) where the recorded decision and the re-derived one differ. */
  readonly field: string;
  readonly recorded: unknown;
  readonly derived: unknown;
}

export interface DecisionsReport {
  readonly ok: boolean;
  /** Events read (the whole log up to the first deviation). */
  readonly events: number;
  /** AccessDecided events seen. */
  readonly decisions: number;
  /** Decisions derived again and found to follow. */
  readonly rederived: number;
  /**
   * Decisions under a policy this release cannot re-derive (another rules digest, a policy
   * never activated in the log, or none recorded: `"none"`), counted by policy version. They
   * are not failures: a later release never makes an old log fail.
   */
  readonly unknownPolicies: Readonly<Record<string, number>>;
  /**
   * Emergency decisions whose reason could not be read (sealed, and no key here, or the
   * patient's key destroyed by erasure): re-derived as if the recorded reason were long
   * enough, every other input checked as usual.
   */
  readonly unreadableReasons: number;
  readonly firstDeviation?: DecisionDeviation;
  /** A policy whose recorded parameters do not hash to its version (a forged activation). */
  readonly badPolicy?: { readonly globalSeq: number; readonly policyVersion: string };
}

/** The fields compared, in the order a deviation is named. */
const FIELDS = ['patientId', 'datasetId', 'decision', 'rule', 'emergency', 'consentVersion', 'demographics', 'reason', 'emergencyReason', 'resourceType', 'resourceId', 'action', 'purpose', 'policyVersion'] as const;

/**
 * `custos verify --decisions`: replays the whole log in order and, for every access decision
 * made under a policy this release knows (same rules digest), derives it again with the pure
 * decider from what the log says at that position: the image registrations before it, the
 * patient's consent stream folded up to it, the policy's recorded parameters, the actor in its
 * metadata and the instant it was made. The first decision that differs is named.
 *
 * Exact because decisions are linearizable with consent (each append is conditional on the
 * consent version it read), and because whatever a decision depends on is in the log: an
 * emergency reason is recorded whenever it was used; a reason too short to count changes
 * nothing. Credentials are not in the actor and no data rule reads them (a rule that does will
 * change the digest, and must then record them).
 */
export async function verifyDecisions(
  db: Database,
  options: { pageSize?: number; onProgress?: (done: number) => void; cipher?: Pick<PayloadCipher, 'open'> } = {},
): Promise<DecisionsReport> {
  let unreadableReasons = 0;
  const pageSize = options.pageSize ?? 5000;
  const consents = new Map<string, ConsentState>(); // by consent stream id
  const images = new Map<string, { patientId: string; datasetId: string }>();
  const patientsWithImages = new Set<string>();
  const studies = new Map<string, { patientId: string; datasetId: string }>();
  const annotations = new Map<string, { patientId: string; datasetId: string }>();
  const policies = new Map<string, ConsentRules | null>(); // null: cannot re-derive
  const unknownPolicies: Record<string, number> = {};
  let events = 0;
  let decisions = 0;
  let rederived = 0;

  const store = new EventStore(db);
  async function policy(version: string): Promise<ConsentRules | null | { bad: number }> {
    const known = policies.get(version);
    if (known !== undefined) return known;
    const [stored] = await store.readStream(policyStreamId(version));
    let rules: ConsentRules | null = null;
    if (stored) {
      const data: PolicyActivatedData = policyCodec.decode(stored).data;
      if (policyVersionOf(data.rulesDigest, { ...data.parameters }) !== version || data.policyVersion !== version) return { bad: stored.globalSeq };
      if (data.rulesDigest === RULES_DIGEST) rules = consentRulesOf(data.parameters) ?? null;
    }
    policies.set(version, rules);
    return rules;
  }

  let after = -1;
  for (;;) {
    const page = await readLog(db, after + 1, Number.MAX_SAFE_INTEGER, pageSize);
    if (page.length === 0) break;
    for (const event of page) {
      events += 1;
      if (event.type === 'ImageRegistered') {
        const d = imageCodec.decode(event).data;
        images.set(d.imageId, { patientId: d.patientId, datasetId: d.datasetId });
        patientsWithImages.add(d.patientId);
      } else if (event.type === 'StudyRegistered') {
        const d = studyCodec.decode(event).data;
        studies.set(d.studyUid, { patientId: d.patientId, datasetId: d.datasetId });
      } else if (event.type === 'AnnotationCreated') {
        const d = event.data as { annotationId: string; patientId: string; datasetId: string };
        annotations.set(d.annotationId, { patientId: d.patientId, datasetId: d.datasetId });
      } else if (event.streamId.startsWith('consent-') && (event.type === 'ConsentChanged' || event.type === 'ConsentWithdrawn')) {
        consents.set(event.streamId, evolveConsent(consents.get(event.streamId) ?? initialConsentState, consentCodec.decode(event)));
      } else if (event.type === 'AccessDecided') {
        decisions += 1;
        let recorded = accessCodec.decode(event).data as AccessDecidedData;
        if (PayloadCipher.isSealed(event)) {
          const opened = options.cipher ? ((await options.cipher.open(event)).data as AccessDecidedData) : undefined;
          if (typeof opened?.emergencyReason === 'string') recorded = opened;
          else {
            unreadableReasons += 1;
            const { sealed: _sealed, ...clear } = recorded as AccessDecidedData & { sealed?: string };
            recorded = { ...clear, emergencyReason: UNREADABLE_REASON };
          }
        }
        const version = recorded.policyVersion;
        const rules = version === null ? null : await policy(version);
        if (rules !== null && 'bad' in rules) return { ok: false, events, decisions, rederived, unknownPolicies, unreadableReasons, badPolicy: { globalSeq: rules.bad, policyVersion: version as string } };
        if (rules === null) {
          const key = version ?? 'none';
          unknownPolicies[key] = (unknownPolicies[key] ?? 0) + 1;
          continue;
        }
        let derived: AccessDecidedData;
        try {
          derived = rederive(event, recorded, rules, images, patientsWithImages, consents, annotations, studies);
        } catch (e) {
          // The decider refuses the request as recorded (a malformed event): that deviates too.
          if (!(e instanceof ValidationError)) throw e;
          return { ok: false, events, decisions, rederived, unknownPolicies, unreadableReasons, firstDeviation: { globalSeq: event.globalSeq, eventId: event.eventId, field: 'request', recorded: e.code, derived: null } };
        }
        for (const field of FIELDS) {
          if (JSON.stringify(recorded[field] ?? null) !== JSON.stringify(derived[field] ?? null)) {
            return { ok: false, events, decisions, rederived, unknownPolicies, unreadableReasons, firstDeviation: { globalSeq: event.globalSeq, eventId: event.eventId, field, recorded: recorded[field] ?? null, derived: derived[field] ?? null } };
          }
        }
        rederived += 1;
      }
    }
    after = (page[page.length - 1] as StoredEvent).globalSeq;
    options.onProgress?.(events);
  }
  return { ok: true, events, decisions, rederived, unknownPolicies, unreadableReasons };
}

/** Stands for a sealed reason that cannot be read: as long as a reason must be to count. */
const UNREADABLE_REASON = 'x'.repeat(EMERGENCY_REASON_MIN);

function rederive(
  event: StoredEvent,
  recorded: AccessDecidedData,
  rules: ConsentRules,
  images: ReadonlyMap<string, { patientId: string; datasetId: string }>,
  patientsWithImages: ReadonlySet<string>,
  consents: ReadonlyMap<string, ConsentState>,
  annotations: ReadonlyMap<string, { patientId: string; datasetId: string }>,
  studies: ReadonlyMap<string, { patientId: string; datasetId: string }>,
): AccessDecidedData {
  const actor = event.metadata.actor;
  const principal: Principal = { sub: actor.id, roles: actor.roles, credentials: [], ...(actor.patientId ? { patientId: actor.patientId } : {}), ...(actor.org ? { org: actor.org } : {}) };
  // The resource as the decision resolved it: from the registrations before this position.
  let resource: { patientId: string; datasetId?: string } | null = null;
  if (recorded.dicom) {
    // A DICOMweb retrieve resolves its study from Custos's own binding; a search, from the archive's PatientID as recorded.
    if (recorded.dicom.level !== 'search') resource = studies.get(recorded.dicom.studyUid) ?? null;
    else if (recorded.patientId) resource = { patientId: recorded.patientId, ...(recorded.datasetId ? { datasetId: recorded.datasetId } : {}) };
  } else if (recorded.resourceType === 'image') resource = images.get(recorded.resourceId) ?? null;
  else if (recorded.resourceType === 'patient-record' && patientsWithImages.has(recorded.resourceId)) resource = { patientId: recorded.resourceId };
  else if (recorded.resourceType === 'annotation') {
    resource = recorded.resourceId.startsWith(ANNOTATIONS_OF_IMAGE) ? (images.get(recorded.resourceId.slice(ANNOTATIONS_OF_IMAGE.length)) ?? null) : (annotations.get(recorded.resourceId) ?? null);
  }
  const at = new Date(event.occurredAt);
  const state = resource ? (consents.get(consentStreamId(resource.patientId)) ?? initialConsentState) : initialConsentState;
  const who: Requester = { user: principal.sub, ...(resource?.datasetId ? { dataset: resource.datasetId } : {}), ...(principal.org ? { organization: principal.org } : {}) };
  const category = categoryOf(recorded.resourceType);
  const granted = resource ? consentAt(state, rules, recorded.purpose, category, at, who).granted : false;
  // Only a read of an image asks for demographics, and only such a decision records them.
  const demographics = recorded.demographics === undefined ? undefined : { consentGranted: resource !== null && consentAt(state, rules, recorded.purpose, 'DEMOGRAPHICS', at, who).granted };
  return decideAccess({
    type: 'DecideAccess',
    principal,
    resourceType: recorded.resourceType,
    resourceId: recorded.resourceId,
    action: recorded.action,
    purpose: recorded.purpose,
    ...(recorded.emergencyReason !== undefined ? { emergencyReason: recorded.emergencyReason } : {}),
    resource,
    consent: { granted, version: resource ? state.version : 0 },
    ...(demographics ? { demographics } : {}),
    policyVersion: recorded.policyVersion as string,
    ...(recorded.dicom ? { dicom: recorded.dicom } : {}),
  }).data;
}
