/**
 * The words every context shares, in one small module: purposes of use, data categories,
 * resource types and data actions, and their FHIR codings; and what counts as visible text in
 * a reason or a note. Pure: no imports.
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
export const ROLES = ['patient', 'clinician', 'annotator', 'reviewer', 'data-steward', 'researcher', 'security-officer', 'regulator', 'admin', 'audit-source', 'model-developer'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/**
 * How many characters of `text` a reader can see and read: grapheme clusters (what shows as
 * one character: a letter with its combining marks is one) that hold a letter or a digit
 * (`\p{L}`, `\p{N}`). Default-ignorable code points (zero-width spaces, joiners, direction
 * marks, and the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, which Unicode calls letters
 * but which draw nothing) and the braille blank U+2800 are taken out first; white space,
 * punctuation, symbols, emoji and lone surrogates do not count. So twenty fillers, twenty
 * braille blanks or one letter under nineteen combining marks are not a 20-character reason.
 */
export function visibleLength(text: string): number {
  let count = 0;
  for (const { segment } of GRAPHEMES.segment(text.replace(INVISIBLE, ''))) if (LETTER_OR_DIGIT.test(segment)) count += 1;
  return count;
}

const GRAPHEMES = new Intl.Segmenter('en', { granularity: 'grapheme' });
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u2800]/gu;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/**
 * Actor ids compared as an identity provider might (Unicode NFKC, case folded): 'SO-1' is
 * 'so-1' wherever separation of duties asks whether two ids name the same person (incident
 * subjects and assignees, one's own workforce record, one's own annotation).
 */
export const sameActor = (a: string, b: string): boolean => a.normalize('NFKC').toLowerCase() === b.normalize('NFKC').toLowerCase();

/**
 * A region as profiles record it and breach assessments count it: a subdivision (ISO 3166-2,
 * with or without its country: `CA`, `IDF`, `US-CA`, `FR-IDF`) or a country (ISO 3166-1
 * alpha-2, `EU` for the Union). Such keys are stored in clear, so nothing but a code passes.
 */
export const REGION_CODE = /^([A-Z]{2}-)?[A-Z0-9]{1,3}$/;

/**
 * An epsilon (differential privacy) as micro-epsilon, ε × 10^6: a decimal with at most six
 * places, more than 0 and under 1000, no leading zero (`00.5` is refused); null otherwise. Budgets add micro-epsilon, exactly.
 */
export function epsilonMicrosOf(raw: string): number | null {
  const m = /^(0|[1-9]\d{0,2})(?:\.(\d{1,6}))?$/.exec(raw);
  if (!m) return null;
  const micros = Number(m[1]) * 1_000_000 + Number(((m[2] ?? '') + '000000').slice(0, 6));
  return micros > 0 ? micros : null;
}

/** Micro-epsilon as the decimal it stands for (no trailing zeros). */
export function epsilonText(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  const frac = String(micros % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}
