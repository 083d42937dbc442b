/**
 * The words every context shares, in one small module: purposes of use, data categories,
 * resource types and data actions, and their FHIR codings. Pure data: no imports.
 */
export const PURPOSES = ['TREATMENT', 'RESEARCH', 'AI_TRAINING', 'OPERATIONS', 'PUBLIC_HEALTH'] as const;
export type Purpose = (typeof PURPOSES)[number];

export const DATA_CATEGORIES = ['IMAGING', 'ANNOTATIONS', 'DEMOGRAPHICS', 'REPORTS'] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

export const RESOURCE_TYPES = ['image', 'annotation', 'patient-record'] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

export const DATA_ACTIONS = ['view', 'download', 'export'] as const;
export type DataAction = (typeof DATA_ACTIONS)[number];

export function isPurpose(value: unknown): value is Purpose {
  return typeof value === 'string' && (PURPOSES as readonly string[]).includes(value);
}

/** The data category a resource type belongs to, for consent. */
export function categoryOf(resourceType: ResourceType): Exclude<DataCategory, 'DEMOGRAPHICS'> {
  return resourceType === 'image' ? 'IMAGING' : resourceType === 'annotation' ? 'ANNOTATIONS' : 'REPORTS';
}

export interface Coding {
  readonly system: string;
  readonly code: string;
  readonly display: string;
}

/** Purpose of use as FHIR codings (v3-ActReason where HL7 has a code; Custos' own for AI_TRAINING). */
export const PURPOSE_CODES: Readonly<Record<Purpose, Coding>> = {
  TREATMENT: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT', display: 'treatment' },
  RESEARCH: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH', display: 'healthcare research' },
  AI_TRAINING: { system: 'https://custos.dev/fhir/CodeSystem/purpose-of-use', code: 'AI_TRAINING', display: 'training of AI models' },
  OPERATIONS: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HOPERAT', display: 'healthcare operations' },
  PUBLIC_HEALTH: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PUBHLTH', display: 'public health' },
};

export const DATA_CATEGORY_SYSTEM = 'https://custos.dev/fhir/CodeSystem/data-category';

/** The roles Custos knows (JWT claim `roles`). */
export const ROLES = ['patient', 'clinician', 'annotator', 'reviewer', 'data-steward', 'researcher', 'security-officer', 'regulator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/**
 * Actor ids compared as an identity provider might (Unicode NFKC, case folded): 'SO-1' is
 * 'so-1' wherever separation of duties asks whether two ids name the same person (incident
 * subjects and assignees, one's own workforce record, one's own annotation).
 */
export const sameActor = (a: string, b: string): boolean => a.normalize('NFKC').toLowerCase() === b.normalize('NFKC').toLowerCase();
