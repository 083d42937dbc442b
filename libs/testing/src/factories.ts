import type { Principal } from '@custos/authz';
import type { Actor, CommandContext } from '@custos/event-store';

/**
 * Shared builders for test data (after Immich's `test/factories`): one principal per role,
 * an image, a dataset, each with the ids the specs have always used, and any field
 * overridable. Specs take them from here rather than redefine their own.
 *
 * The shapes are declared here, structurally, so the testing lib imports no context.
 */

type PrincipalOverrides = Partial<Principal>;

function principal(base: Principal, over: PrincipalOverrides): Principal {
  return { ...base, ...over };
}

/** One principal per role: `principals.clinician()`, `principals.patient({ patientId: 'p2', sub: 'pat-2' })`. */
export const principals = {
  patient: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'pat-1', roles: ['patient'], patientId: 'p1', credentials: [] }, over),
  clinician: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'dr-1', roles: ['clinician'], credentials: [] }, over),
  /** Annotates (and reviews, as a reviewer) under the credential the test datasets accept. */
  annotator: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'ann-1', roles: ['annotator'], credentials: ['certified-radiologist'] }, over),
  reviewer: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'rev-1', roles: ['reviewer'], credentials: ['certified-radiologist'] }, over),
  steward: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'stew-1', roles: ['data-steward'], credentials: [] }, over),
  researcher: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'res-1', roles: ['researcher'], credentials: [] }, over),
  securityOfficer: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'so-1', roles: ['security-officer'], credentials: [] }, over),
  regulator: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'reg-1', roles: ['regulator'], credentials: [] }, over),
  admin: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'admin-1', roles: ['admin'], credentials: [] }, over),
  /** Registers model versions and their evaluations per group. */
  modelDeveloper: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'mdev-1', roles: ['model-developer'], credentials: [] }, over),
  /** A source system reporting its own accesses as FHIR AuditEvents (an EHR, a viewer). */
  auditSource: (over: PrincipalOverrides = {}): Principal => principal({ sub: 'ehr-1', roles: ['audit-source'], credentials: [] }, over),
} as const;

/** The actor events record for a principal (what the gateway derives from a verified token). */
export function actorOf(p: Principal): Actor {
  return { id: p.sub, roles: [...p.roles], ...(p.patientId ? { patientId: p.patientId } : {}), ...(p.org ? { org: p.org } : {}) };
}

/** Who issues a command, in which request: the principal as actor, and a correlation id. */
export function commandContextOf(p: Principal, correlationId = 'corr-test'): CommandContext {
  return { actor: actorOf(p), correlationId };
}

/** The dev token claims for a principal (POST /v1/dev/tokens): credentials only where it has some. */
export interface TokenClaims {
  sub: string;
  roles: string[];
  patient_id?: string;
  credentials?: readonly string[];
}

export function claimsOf(p: Principal): TokenClaims {
  return { sub: p.sub, roles: [...p.roles], ...(p.patientId ? { patient_id: p.patientId } : {}), ...(p.credentials.length > 0 ? { credentials: p.credentials } : {}) };
}

/** An image as registered (ImageRegistered's data). */
export interface TestImage {
  readonly imageId: string;
  readonly patientId: string;
  readonly modality: string;
  readonly bodySite: string;
  readonly datasetId: string;
  readonly demographics: { readonly sex: string; readonly birthYear: number; readonly ethnicity: string };
}

export function image(over: Partial<TestImage> = {}): TestImage {
  return { imageId: 'img-1', patientId: 'p1', modality: 'CT', bodySite: 'chest', datasetId: 'ds-1', demographics: { sex: 'F', birthYear: 1970, ethnicity: 'unknown' }, ...over };
}

/** A dataset's configuration (PUT /v1/datasets/:id, DatasetConfigured's data without the id). */
export interface TestDataset {
  readonly purpose: 'AI_TRAINING' | 'RESEARCH';
  readonly labels: readonly string[];
  readonly credentials: readonly string[];
  readonly minReviewers: number;
}

export function dataset(over: Partial<TestDataset> = {}): TestDataset {
  return { purpose: 'AI_TRAINING', labels: ['nodule', 'mass'], credentials: ['certified-radiologist'], minReviewers: 1, ...over };
}
