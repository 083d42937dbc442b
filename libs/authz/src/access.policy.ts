import { createMongoAbility, MongoAbility, RawRuleOf, subject as tag } from '@casl/ability';

/**
 * Custos' authorization policy, as data: CASL rules per role, each carrying its stable rule
 * name in `reason`. One function, `defineAbilityFor`, turns an identity into an ability; routes
 * declare what they need, and the data-access decision asks the same ability. Pure: no
 * framework, no I/O.
 */
export const PURPOSES = ['TREATMENT', 'RESEARCH', 'AI_TRAINING', 'OPERATIONS', 'PUBLIC_HEALTH'] as const;
export type Purpose = (typeof PURPOSES)[number];
export const DATA_ACTIONS = ['view', 'download', 'export'] as const;
export type DataAction = (typeof DATA_ACTIONS)[number];
export const RESOURCE_TYPES = ['image', 'annotation', 'patient-record'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** What a principal is, for the policy (a verified identity). */
export interface Principal {
  readonly sub: string;
  readonly roles: readonly string[];
  readonly patientId?: string;
  readonly credentials: readonly string[];
}

export type RouteAction = 'create' | 'read' | 'update';
export type Action = RouteAction | DataAction;

/** Attributes of a request for patient data, as the policy sees it. */
export interface PatientDataRequest {
  readonly resourceType: ResourceType;
  readonly patientId: string;
  readonly purpose: Purpose;
  /** Whether the patient's consent, as it stands now, allows this purpose. */
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
  | 'DatasetConsent';

export type CustosAbility = MongoAbility<[Action, Subjects | (Record<string, unknown> & { __caslSubjectType__?: Subjects })]>;
type Rule = RawRuleOf<CustosAbility>;

/** The rules of each role. A principal's ability is the union of its roles' rules. */
export function rulesFor(p: Principal): Rule[] {
  const rules: Rule[] = [];
  const has = (role: string) => p.roles.includes(role);
  // Anyone authenticated may ask for access: the decision, PERMIT or DENY, is recorded.
  rules.push({ action: 'create', subject: 'AccessRequest', reason: 'any-authenticated' });
  if (has('clinician')) {
    rules.push({ action: ['view', 'download'], subject: 'PatientData', conditions: { purpose: 'TREATMENT' }, reason: 'clinician-treatment' });
    rules.push({ action: 'read', subject: ['Image', 'ImageDemographics'], reason: 'clinician-images' });
  }
  if (has('researcher')) {
    rules.push({ action: ['view', 'download'], subject: 'PatientData', conditions: { purpose: { $in: ['RESEARCH', 'AI_TRAINING'] }, consentGranted: true }, reason: 'researcher-with-consent' });
    rules.push({ action: 'read', subject: 'Image', reason: 'researcher-image-metadata' });
  }
  if (has('data-steward')) {
    rules.push({ action: ['view', 'download', 'export'], subject: 'PatientData', conditions: { purpose: 'OPERATIONS' }, reason: 'steward-operations' });
    rules.push({ action: ['create', 'read'], subject: ['Image', 'ImageDemographics'], reason: 'steward-images' });
    // Stewards record consents captured on paper (with who captured it and the evidence).
    rules.push({ action: ['read', 'update'], subject: 'Consent', reason: 'steward-paper-consent' });
    rules.push({ action: 'read', subject: 'DatasetConsent', reason: 'steward-datasets' });
  }
  if (has('admin')) {
    rules.push({ action: ['create', 'read'], subject: ['Image', 'ImageDemographics'], reason: 'admin-images' });
  }
  if (has('annotator') || has('reviewer')) {
    rules.push({ action: 'read', subject: 'Image', reason: 'annotation-image-metadata' });
  }
  if (has('patient') && p.patientId) {
    rules.push({ action: 'view', subject: 'PatientData', conditions: { resourceType: 'patient-record', patientId: p.patientId }, reason: 'patient-own-record' });
    rules.push({ action: 'read', subject: ['AccessTrail', 'Disclosures'], conditions: { patientId: p.patientId }, reason: 'patient-own-trail' });
    rules.push({ action: 'read', subject: ['Image', 'ImageDemographics'], conditions: { patientId: p.patientId }, reason: 'patient-own-images' });
    rules.push({ action: ['read', 'update'], subject: 'Consent', conditions: { patientId: p.patientId }, reason: 'patient-own-consent' });
  }
  if (has('security-officer')) {
    rules.push({ action: 'read', subject: ['AccessTrail', 'Disclosures', 'AuditLog', 'Consent'], reason: 'security-oversight' });
    rules.push({ action: ['read', 'update'], subject: 'EmergencyReview', reason: 'security-review' });
  }
  if (has('regulator')) {
    rules.push({ action: 'read', subject: ['AccessTrail', 'Disclosures', 'AuditLog', 'Consent'], reason: 'regulator-oversight' });
  }
  // Oversight roles audit access; they never receive patient data through an access request,
  // whatever other role the same identity holds. Inverted rules come last and win.
  if (has('security-officer') || has('regulator')) {
    rules.push({ inverted: true, action: ['view', 'download', 'export'], subject: 'PatientData', reason: 'oversight-roles-get-no-data' });
  }
  return rules;
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

export interface DataDecision {
  readonly decision: 'PERMIT' | 'DENY';
  /** The stable name of the rule that decided. */
  readonly rule: string;
  readonly reason: string;
  readonly emergency: boolean;
}

export const EMERGENCY_REASON_MIN = 20;

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
  if (!blockedByOversight && emergencyReason !== undefined && p.roles.includes('clinician') && emergencyReason.trim().length >= EMERGENCY_REASON_MIN) {
    return { decision: 'PERMIT', rule: 'break-the-glass', reason: 'emergency access by a clinician with a stated reason; queued for review', emergency: true };
  }
  if (blockedByOversight) return { decision: 'DENY', rule: rule.reason ?? 'denied', reason: 'oversight roles audit access but never receive patient data', emergency: false };
  if (!request.consentGranted && ability.can(action, subjectOf('PatientData', { ...request, consentGranted: true }))) {
    return { decision: 'DENY', rule: 'consent-not-granted', reason: `the patient has not consented to ${request.purpose}`, emergency: false };
  }
  return { decision: 'DENY', rule: 'no-matching-rule', reason: `no rule lets these roles ${action} ${request.resourceType} data for ${request.purpose}`, emergency: false };
}
