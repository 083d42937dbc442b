import { createMongoAbility, type MongoAbility, type RawRuleOf, subject as tag } from '@casl/ability';
import { createHash } from 'node:crypto';
import { type DataAction, type Purpose, type ResourceType, ROLES, visibleLength } from '@custos/vocabulary';

/**
 * Custos' authorization policy, as data: CASL rules per role, each carrying its stable rule
 * name in `reason`. One function, `defineAbilityFor`, turns an identity into an ability; routes
 * declare what they need, and the data-access decision asks the same ability. Pure: no
 * framework, no I/O.
 *
 * Every rule that lets someone other than the patient see patient data requires the
 * patient's consent for the purpose (`consentGranted: true`); a purpose a deployment does not
 * let patients restrict is reported as granted by the consent side, so the rules stay one set.
 */

/** What a principal is, for the policy (a verified identity). */
export interface Principal {
  readonly sub: string;
  readonly roles: readonly string[];
  readonly patientId?: string;
  readonly credentials: readonly string[];
  /** The organisation the identity acts for (JWT claim `org`), if any. */
  readonly org?: string;
  /** The purpose of use the token asserts (IHE IUA `purpose_of_use`), if any: DICOMweb reads take it before any other source. */
  readonly purposeOfUse?: string;
}

export type RouteAction = 'create' | 'read' | 'update';
export type Action = RouteAction | DataAction;

/** Attributes of a request for patient data, as the policy sees it. */
export interface PatientDataRequest {
  readonly resourceType: ResourceType;
  readonly patientId: string;
  readonly purpose: Purpose;
  /** Whether the patient's consent, as it stands at the decision, allows this purpose and category. */
  readonly consentGranted: boolean;
}

export type Subjects =
  | 'PatientData'
  | 'AccessRequest'
  | 'AccessTrail'
  | 'Disclosures'
  | 'AuditLog'
  | 'EmergencyReview'
  | 'Image'
  | 'ImageDemographics'
  | 'Consent'
  | 'DatasetConsent'
  | 'PersonalField'
  | 'Erasure'
  | 'LegalHold'
  | 'Keys'
  | 'Dataset'
  | 'Annotation'
  | 'AnnotationReview'
  | 'DatasetQuality'
  | 'DatasetBalance'
  | 'ReferencePopulation'
  | 'LogCheckpoint'
  | 'LogProof'
  | 'Export'
  | 'PatientProfile'
  | 'Workforce'
  | 'Incident'
  | 'Model'
  | 'Finding'
  | 'AuditIngest';

export type CustosAbility = MongoAbility<[Action, Subjects | (Record<string, unknown> & { __caslSubjectType__?: Subjects })]>;
type Rule = RawRuleOf<CustosAbility>;

/** The rules of each role. A principal's ability is the union of its roles' rules. */
export function rulesFor(p: Principal): Rule[] {
  const rules: Rule[] = [];
  const has = (role: string) => p.roles.includes(role);
  // A system that reports other systems' accesses (FHIR AuditEvent ingest) may do that and
  // nothing else, whatever other role its identity also claims: not even ask for access.
  if (has('audit-source')) return [{ action: 'create', subject: 'AuditIngest', reason: 'audit-source-ingest' }];
  // Anyone authenticated may ask for access: the decision, PERMIT or DENY, is recorded.
  rules.push({ action: 'create', subject: 'AccessRequest', reason: 'any-authenticated' });
  // The log's signed checkpoints and consistency proofs are hashes only: anyone may check them.
  rules.push({ action: 'read', subject: 'LogCheckpoint', reason: 'any-authenticated' });
  if (has('clinician')) {
    rules.push({ action: ['view', 'download'], subject: 'PatientData', conditions: { purpose: 'TREATMENT', consentGranted: true }, reason: 'clinician-treatment' });
    rules.push({ action: 'read', subject: 'ImageDemographics', reason: 'clinician-demographics' });
  }
  if (has('reviewer')) {
    rules.push({ action: 'create', subject: 'AnnotationReview', reason: 'reviewers-review' });
  }
  if (has('researcher')) {
    rules.push({ action: 'read', subject: 'Dataset', reason: 'researchers-datasets' });
    rules.push({ action: 'read', subject: ['DatasetBalance', 'ReferencePopulation'], reason: 'researchers-on-dataset-balance' }); // on the dataset: the handler checks its researchers
    rules.push({ action: ['view', 'download'], subject: 'PatientData', conditions: { purpose: { $in: ['RESEARCH', 'AI_TRAINING'] }, consentGranted: true }, reason: 'researcher-with-consent' });
  }
  if (has('annotator') || has('reviewer')) {
    // Who may label a given dataset is decided by its accepted credentials (the decider).
    rules.push({ action: ['create', 'update'], subject: 'Annotation', reason: 'annotators-annotate' });
    rules.push({ action: 'read', subject: 'Dataset', reason: 'annotators-datasets' });
    rules.push({ action: 'view', subject: 'PatientData', conditions: { resourceType: { $in: ['image', 'annotation'] }, purpose: { $in: ['RESEARCH', 'AI_TRAINING'] }, consentGranted: true }, reason: 'annotation-with-consent' });
  }
  if (has('data-steward')) {
    rules.push({ action: ['view', 'download', 'export'], subject: 'PatientData', conditions: { purpose: 'OPERATIONS', consentGranted: true }, reason: 'steward-operations' });
    rules.push({ action: 'read', subject: 'ImageDemographics', reason: 'steward-demographics' });
    rules.push({ action: 'create', subject: 'Image', reason: 'steward-images' });
    // Stewards record consents captured on paper (with who captured it and the evidence).
    rules.push({ action: ['read', 'update'], subject: 'Consent', reason: 'steward-paper-consent' });
    rules.push({ action: 'read', subject: 'DatasetConsent', reason: 'steward-datasets' });
    rules.push({ action: ['read', 'update'], subject: 'Dataset', reason: 'steward-dataset-settings' });
    rules.push({ action: 'read', subject: 'DatasetQuality', reason: 'steward-quality-audit' });
    rules.push({ action: 'read', subject: ['DatasetBalance', 'ReferencePopulation'], reason: 'steward-balance' });
    rules.push({ action: 'update', subject: 'ReferencePopulation', reason: 'steward-reference-population' });
    // The steward captured the paper form: its reference is theirs to read back.
    rules.push({ action: 'read', subject: 'PersonalField', fields: ['evidenceRef'], reason: 'steward-paper-evidence' });
    // Erasure on the patient's request (GDPR Art. 17), by the steward or an admin.
    rules.push({ action: 'create', subject: 'Erasure', reason: 'steward-erasure' });
    // Who a patient is (residence, VIP or employee): what the sentinel's rules and the breach clocks need.
    rules.push({ action: 'update', subject: 'PatientProfile', reason: 'steward-patient-profiles' });
    // Fairness findings of the sentinel's dataset rules: the steward works them (acknowledge, resolve, reopen).
    rules.push({ action: ['read', 'update'], subject: 'Finding', reason: 'steward-findings' });
  }
  if (has('admin')) {
    rules.push({ action: 'create', subject: 'Image', reason: 'admin-images' });
    rules.push({ action: 'create', subject: 'Erasure', reason: 'admin-erasure' });
    rules.push({ action: 'update', subject: 'Keys', reason: 'admin-key-rotation' });
    rules.push({ action: 'update', subject: 'Workforce', reason: 'admin-workforce' });
  }
  if (has('patient') && p.patientId) {
    // Right of access: a patient sees their own data whatever their consent says to others.
    rules.push({ action: ['view', 'download'], subject: 'PatientData', conditions: { patientId: p.patientId }, reason: 'patient-own-data' });
    rules.push({ action: 'read', subject: 'ImageDemographics', conditions: { patientId: p.patientId }, reason: 'patient-own-demographics' });
    rules.push({ action: 'read', subject: ['AccessTrail', 'Disclosures'], conditions: { patientId: p.patientId }, reason: 'patient-own-trail' });
    rules.push({ action: ['read', 'update'], subject: 'Consent', conditions: { patientId: p.patientId }, reason: 'patient-own-consent' });
    rules.push({ action: 'read', subject: 'PersonalField', conditions: { patientId: p.patientId }, reason: 'patient-own-personal-data' });
    rules.push({ action: 'read', subject: 'LogProof', conditions: { patientId: p.patientId }, reason: 'patient-own-proofs' });
  }
  if (has('security-officer')) {
    rules.push({ action: 'read', subject: ['AccessTrail', 'Disclosures', 'AuditLog', 'Consent'], reason: 'security-oversight' });
    rules.push({ action: ['read', 'update'], subject: 'EmergencyReview', reason: 'security-review' });
    // Judging a break-the-glass needs the reason given and the notes of earlier reviews.
    rules.push({ action: 'read', subject: 'PersonalField', fields: ['emergencyReason', 'note'], reason: 'security-review-reasons' });
    // A legal hold keeps a patient's data from erasure while an investigation or case runs.
    rules.push({ action: 'update', subject: 'LegalHold', reason: 'security-legal-hold' });
    rules.push({ action: 'read', subject: 'LogProof', reason: 'security-log-proofs' });
    // Incident response: the cases, their evidence and clocks, and the officers' own notes.
    rules.push({ action: ['read', 'create', 'update'], subject: 'Incident', reason: 'security-incidents' });
    rules.push({ action: 'read', subject: 'PersonalField', fields: ['reason', 'factors', 'rationale', 'title', 'agency', 'reference', 'channel'], reason: 'security-incident-notes' });
  }
  if (has('model-developer')) {
    // Models tied to their snapshots, and their evaluations per group (docs/bias.md).
    rules.push({ action: ['create', 'read', 'update'], subject: 'Model', reason: 'model-developer-models' });
  }
  if (has('data-steward') || has('regulator')) {
    rules.push({ action: 'read', subject: 'Model', reason: 'oversight-model-cards' });
  }
  if (has('regulator')) {
    rules.push({ action: 'read', subject: ['AccessTrail', 'Disclosures', 'AuditLog', 'Consent'], reason: 'regulator-oversight' });
    rules.push({ action: 'read', subject: 'Dataset', reason: 'regulator-datasets' });
    rules.push({ action: 'read', subject: 'DatasetQuality', reason: 'regulator-quality-audit' });
    rules.push({ action: 'read', subject: ['DatasetBalance', 'ReferencePopulation'], reason: 'regulator-balance' });
    rules.push({ action: 'read', subject: 'LogProof', reason: 'regulator-log-proofs' });
    rules.push({ action: 'create', subject: 'Export', reason: 'regulator-export' });
    rules.push({ action: 'read', subject: 'Finding', reason: 'regulator-findings' });
  }
  // Oversight roles audit access; they never receive patient data through an access request,
  // whatever other role the same identity holds. Inverted rules come last and win.
  if (has('security-officer') || has('regulator')) {
    rules.push({ inverted: true, action: ['view', 'download', 'export'], subject: 'PatientData', reason: 'oversight-roles-get-no-data' });
  }
  return rules;
}

/**
 * Whether `p` may read personal field `field` of an event about `patientId` in clear (CASL
 * field rules, subject `PersonalField`). Everyone else reads it as `{"redacted": true}`:
 * oversight roles see the clear metadata only, unless a rule above grants the field.
 */
export function canReadPersonal(p: Principal, patientId: string | null, field: string): boolean {
  return defineAbilityFor(p).can('read', subjectOf('PersonalField', { patientId }), field);
}

const abilities = new WeakMap<Principal, CustosAbility>();

/**
 * The principal's ability. Verified identities are cached objects (until their token
 * expires), so the ability built from one is kept beside it rather than rebuilt per request.
 */
export function defineAbilityFor(p: Principal): CustosAbility {
  let ability = abilities.get(p);
  if (!ability) {
    ability = createMongoAbility<CustosAbility>(rulesFor(p));
    abilities.set(p, ability);
  }
  return ability;
}

/** Tags plain attributes with their subject type, for condition checks. */
export function subjectOf(type: Subjects, attributes: Record<string, unknown>) {
  return tag(type, { ...attributes });
}

/** The rule name that lets `p` do `action` on `subject` (for the record), if any. */
export function ruleFor(p: Principal, action: Action, subject: Subjects, attributes: Record<string, unknown>): string | undefined {
  const ability = defineAbilityFor(p);
  const s = subjectOf(subject, attributes);
  return ability.can(action, s) ? (ability.relevantRuleFor(action, s)?.reason ?? 'permitted') : undefined;
}

export interface DataDecision {
  readonly decision: 'PERMIT' | 'DENY';
  /** The stable name of the rule that decided. */
  readonly rule: string;
  readonly reason: string;
  readonly emergency: boolean;
}

export const EMERGENCY_REASON_MIN = 20;

/** How many characters of a reason a reader can see and read (in the vocabulary: notes elsewhere count the same way). */
export { visibleLength };

/**
 * The decision on one request for patient data: the policy's answer, with the rule that gave
 * it; break-the-glass lets a clinician with a stated reason through where policy would deny.
 */
export function decideDataAccess(p: Principal, action: DataAction, request: PatientDataRequest, emergencyReason?: string): DataDecision {
  const ability = defineAbilityFor(p);
  const s = subjectOf('PatientData', { ...request });
  const rule = ability.relevantRuleFor(action, s);
  if (ability.can(action, s)) {
    return { decision: 'PERMIT', rule: rule?.reason ?? 'permitted', reason: `permitted by ${rule?.reason ?? 'policy'}`, emergency: false };
  }
  const blockedByOversight = rule?.inverted === true;
  if (!blockedByOversight && emergencyReason !== undefined && p.roles.includes('clinician') && visibleLength(emergencyReason) >= EMERGENCY_REASON_MIN) {
    return { decision: 'PERMIT', rule: 'break-the-glass', reason: 'emergency access by a clinician with a stated reason; queued for review', emergency: true };
  }
  if (blockedByOversight) return { decision: 'DENY', rule: rule.reason ?? 'denied', reason: 'oversight roles audit access but never receive patient data', emergency: false };
  if (!request.consentGranted && ability.can(action, subjectOf('PatientData', { ...request, consentGranted: true }))) {
    return { decision: 'DENY', rule: 'consent-not-granted', reason: `the patient has not consented to ${request.purpose} for this data`, emergency: false };
  }
  return { decision: 'DENY', rule: 'no-matching-rule', reason: `no rule lets these roles ${action} ${request.resourceType} data for ${request.purpose}`, emergency: false };
}

/**
 * Whether any of `p`'s roles could use patient data for `purpose` once consent is given: such
 * an identity must not record a consent for that purpose (separation of duties). The patient's
 * own rule does not count: a patient deciding for themselves is the point of consent.
 */
export function couldUseForPurpose(p: Principal, purpose: Purpose): boolean {
  const ability = createMongoAbility<CustosAbility>(rulesFor({ ...p, roles: p.roles.filter((r) => r !== 'patient') }));
  return (['view', 'download', 'export'] as const).some((action) =>
    (['image', 'annotation', 'patient-record'] as const).some((resourceType) =>
      ability.can(action, subjectOf('PatientData', { resourceType, patientId: '*', purpose, consentGranted: true })),
    ),
  );
}

/** Bump when `decideDataAccess` changes meaning without a change to the rules themselves (3: a reason counts letter-or-digit graphemes). */
export const DECISION_LOGIC_VERSION = 3;

/**
 * A digest of the policy as data: every role's rules (for a placeholder identity), the
 * emergency minimum and the decision logic's version. Decisions record the policy version
 * they were made under, so `custos verify --decisions` re-derives only what it knows.
 */
export const RULES_DIGEST: string = sha256(
  stableJson({
    logic: DECISION_LOGIC_VERSION,
    emergencyReasonMin: EMERGENCY_REASON_MIN,
    roles: Object.fromEntries(ROLES.map((r) => [r, rulesFor({ sub: '$sub', roles: [r], patientId: '$patient', credentials: [] })])),
  }),
);

/** The policy version: the rules' digest with the deployment's parameters (consent defaults, restrictable purposes). */
export function policyVersionOf(rulesDigest: string, parameters: Record<string, unknown>): string {
  return sha256(`${rulesDigest}\n${stableJson(parameters)}`).slice(0, 32);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted, for digests. */
function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
}
