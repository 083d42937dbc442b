import type { Principal } from '@custos/authz';
import type { Decider } from '@custos/decider';
import { AlreadyExistsError, ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
import { sameActor } from '@custos/vocabulary';
import type { AnnotationEvent, AnnotationStatus, DatasetConfiguredData, Geometry } from './annotation.events.js';

/** One annotation as its events leave it. */
export interface AnnotationState {
  readonly annotationId: string | null;
  readonly exists: boolean;
  readonly deleted: boolean;
  readonly imageId: string | null;
  readonly datasetId: string | null;
  readonly patientId: string | null;
  readonly label: string | null;
  readonly geometry: Geometry | null;
  readonly confidence: number | null;
  /** Who created or edited it: none of them may review it. */
  readonly authors: readonly string[];
  readonly status: AnnotationStatus;
  /** Reviewers who approved since the last edit. */
  readonly approvals: readonly string[];
}

export const initialAnnotationState: AnnotationState = { annotationId: null, exists: false, deleted: false, imageId: null, datasetId: null, patientId: null, label: null, geometry: null, confidence: null, authors: [], status: 'unreviewed', approvals: [] };

export interface AnnotationFields {
  readonly label: string;
  readonly geometry: Geometry;
  readonly confidence: number;
  readonly note?: string;
}

interface Acting {
  readonly principal: Principal;
  readonly dataset: DatasetConfiguredData;
  /** The patient's consent for the dataset's purpose covers ANNOTATIONS or IMAGING. */
  readonly consentGranted: boolean;
}

export type CreateAnnotation = Acting & { readonly type: 'CreateAnnotation'; readonly annotationId: string; readonly imageId: string; readonly patientId: string; readonly fields: AnnotationFields };
export type EditAnnotation = Acting & { readonly type: 'EditAnnotation'; readonly changes: Partial<AnnotationFields> };
export type DeleteAnnotation = Omit<Acting, 'consentGranted'> & { readonly type: 'DeleteAnnotation' };
export type ReviewAnnotation = Omit<Acting, 'consentGranted'> & { readonly type: 'ReviewAnnotation'; readonly verdict: 'approved' | 'rejected'; readonly reason?: string };
export type AnnotationCommand = CreateAnnotation | EditAnnotation | DeleteAnnotation | ReviewAnnotation;

export function evolveAnnotation(state: AnnotationState, event: AnnotationEvent): AnnotationState {
  switch (event.type) {
    case 'AnnotationCreated': {
      const d = event.data;
      return { ...state, annotationId: d.annotationId, exists: true, imageId: d.imageId, datasetId: d.datasetId, patientId: d.patientId, label: d.label, geometry: d.geometry, confidence: d.confidence, authors: [d.by], status: 'unreviewed', approvals: [] };
    }
    case 'AnnotationEdited': {
      const d = event.data;
      return {
        ...state,
        ...(d.label !== undefined ? { label: d.label } : {}),
        ...(d.geometry !== undefined ? { geometry: d.geometry } : {}),
        ...(d.confidence !== undefined ? { confidence: d.confidence } : {}),
        authors: state.authors.includes(d.by) ? state.authors : [...state.authors, d.by],
        status: d.status,
        approvals: [],
      };
    }
    case 'AnnotationDeleted':
      return { ...state, deleted: true };
    case 'AnnotationReviewed': {
      const d = event.data;
      return { ...state, status: d.status, approvals: d.verdict === 'approved' ? [...state.approvals, d.by] : [] };
    }
  }
}

/** The credential the principal acts under for this dataset: the first accepted one they hold. */
export function credentialFor(principal: Principal, dataset: DatasetConfiguredData): string | undefined {
  return [...principal.credentials].sort().find((c) => dataset.credentials.includes(c));
}

function checkFields(fields: Partial<AnnotationFields>, dataset: DatasetConfiguredData): void {
  if (fields.label !== undefined && !dataset.labels.includes(fields.label)) throw new ValidationError(`label must be one of the dataset's labels (${dataset.labels.slice(0, 20).join(', ')})`, { label: String(fields.label).slice(0, 100) }, 'unknown-label');
  if (fields.confidence !== undefined && (typeof fields.confidence !== 'number' || !Number.isFinite(fields.confidence) || fields.confidence < 0 || fields.confidence > 1)) {
    throw new ValidationError('confidence must be a number from 0 to 1', { field: 'confidence' }, 'bad-confidence');
  }
  if (fields.geometry !== undefined) checkGeometry(fields.geometry);
  if (fields.note !== undefined && (typeof fields.note !== 'string' || fields.note.length > 4000)) throw new ValidationError('note must be text of at most 4,000 characters', { field: 'note' }, 'bad-note');
}

export const COORD_MAX = 1_000_000;
export const POLYGON_MAX_POINTS = 1000;
const coord = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= COORD_MAX;
const MASK_REF = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,299}$/;
/** The keys each geometry type has, and no others: the geometry is stored in clear, so nothing else may ride in it. */
const GEOMETRY_KEYS: Readonly<Record<Geometry['type'], readonly string[]>> = { bbox: ['type', 'x', 'y', 'width', 'height'], polygon: ['type', 'points'], mask: ['type', 'ref'] };

/**
 * What is wrong with a geometry, or undefined when it is one: an object of one of the three
 * types with exactly that type's keys, coordinates finite numbers from 0 to COORD_MAX, a
 * polygon 3 to 1,000 points `[x, y]`, a mask a short reference. Shared by the decider and the
 * HTTP edge, so both refuse the same.
 */
export function geometryProblem(g: unknown): string | undefined {
  if (typeof g !== 'object' || g === null || Array.isArray(g)) return 'it must be an object';
  const o = g as Record<string, unknown>;
  const type = o.type;
  if (type !== 'bbox' && type !== 'polygon' && type !== 'mask') return 'type must be bbox, polygon or mask';
  const allowed = GEOMETRY_KEYS[type];
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) return `a ${type} has only ${allowed.join(', ')} (not ${extra.slice(0, 5).map((k) => k.slice(0, 40)).join(', ')})`;
  if (type === 'bbox') {
    if (![o.x, o.y, o.width, o.height].every(coord) || (o.width as number) <= 0 || (o.height as number) <= 0) return `a bbox needs x, y >= 0 and width, height > 0, each at most ${COORD_MAX}`;
  } else if (type === 'polygon') {
    const points = o.points;
    if (!Array.isArray(points) || points.length < 3 || points.length > POLYGON_MAX_POINTS) return `a polygon needs 3 to ${POLYGON_MAX_POINTS.toLocaleString('en')} points`;
    for (const p of points as unknown[]) if (!Array.isArray(p) || p.length !== 2 || !coord(p[0]) || !coord(p[1])) return `every point is [x, y], each from 0 to ${COORD_MAX}`;
  } else if (typeof o.ref !== 'string' || !MASK_REF.test(o.ref)) return 'a mask is a reference (1-300 characters of letters, digits and ._:/-)';
  return undefined;
}

export function checkGeometry(g: Geometry): void {
  const why = geometryProblem(g);
  if (why) throw new ValidationError(`geometry: ${why}`, { field: 'geometry' }, 'bad-geometry');
}

function mayAnnotate(command: Acting): string {
  const credential = credentialFor(command.principal, command.dataset);
  if (!credential) throw new ForbiddenError("none of the caller's credentials is accepted for this dataset", { accepted: command.dataset.credentials }, 'credential-not-accepted');
  return credential;
}

/** Annotation rules, pure: credentials, consent, the label vocabulary, who may review. */
export function decideAnnotation(command: AnnotationCommand, state: AnnotationState): readonly AnnotationEvent[] {
  const by = command.principal.sub;
  switch (command.type) {
    case 'CreateAnnotation': {
      if (state.exists) throw new AlreadyExistsError(`annotation ${command.annotationId} exists`, { annotationId: command.annotationId }, 'annotation-exists');
      const credential = mayAnnotate(command);
      if (!command.consentGranted) throw new ForbiddenError(`the patient's consent for ${command.dataset.purpose} does not cover annotating their images`, { patientId: command.patientId }, 'consent-not-granted');
      checkFields(command.fields, command.dataset);
      const f = command.fields;
      return [
        {
          type: 'AnnotationCreated',
          data: { annotationId: command.annotationId, imageId: command.imageId, datasetId: command.dataset.datasetId, patientId: command.patientId, label: f.label, geometry: f.geometry, confidence: f.confidence, ...(f.note !== undefined ? { note: f.note } : {}), by, credential },
        },
      ];
    }
    case 'EditAnnotation': {
      const current = live(state);
      const credential = mayAnnotate(command);
      if (!command.consentGranted) throw new ForbiddenError(`the patient's consent for ${command.dataset.purpose} does not cover annotating their images`, { patientId: current.patientId }, 'consent-not-granted');
      checkFields(command.changes, command.dataset);
      const c = command.changes;
      const changed: Partial<AnnotationFields> = {
        ...(c.label !== undefined && c.label !== state.label ? { label: c.label } : {}),
        ...(c.geometry !== undefined && JSON.stringify(c.geometry) !== JSON.stringify(state.geometry) ? { geometry: c.geometry } : {}),
        ...(c.confidence !== undefined && c.confidence !== state.confidence ? { confidence: c.confidence } : {}),
        ...(c.note !== undefined ? { note: c.note } : {}),
      };
      if (Object.keys(changed).length === 0) throw new ValidationError('the edit changes nothing', undefined, 'nothing-to-change');
      return [{ type: 'AnnotationEdited', data: { annotationId: current.id, patientId: current.patientId, ...changed, by, credential, status: 'unreviewed' } }];
    }
    case 'DeleteAnnotation': {
      const current = live(state);
      const credential = mayAnnotate({ ...command, consentGranted: true });
      return [{ type: 'AnnotationDeleted', data: { annotationId: current.id, patientId: current.patientId, by, credential } }];
    }
    case 'ReviewAnnotation': {
      const current = live(state);
      if (!command.principal.roles.includes('reviewer')) throw new ForbiddenError('reviewing needs the reviewer role', undefined, 'not-a-reviewer');
      const credential = mayAnnotate({ ...command, consentGranted: true });
      if (state.authors.some((author) => sameActor(author, by))) throw new ForbiddenError('nobody reviews an annotation they created or edited', { patientId: current.patientId }, 'own-annotation');
      if (command.verdict !== 'approved' && command.verdict !== 'rejected') throw new ValidationError('verdict must be approved or rejected', { field: 'verdict' }, 'bad-verdict');
      if (command.reason !== undefined && typeof command.reason !== 'string') throw new ValidationError('reason must be text', { field: 'reason' }, 'bad-reason');
      if (command.verdict === 'rejected' && !command.reason?.trim()) throw new ValidationError('a rejection needs a reason', { field: 'reason' }, 'reason-required');
      if (command.reason !== undefined && command.reason.length > 2000) throw new ValidationError('reason must be at most 2,000 characters', { field: 'reason' }, 'bad-reason');
      if (command.verdict === 'approved' && state.approvals.some((approver) => sameActor(approver, by))) throw new ConflictError('this reviewer already approved this version', undefined, 'already-reviewed');
      const approvals = command.verdict === 'approved' ? state.approvals.length + 1 : 0;
      const status: AnnotationStatus = command.verdict === 'rejected' ? 'rejected' : approvals >= command.dataset.minReviewers ? 'approved' : 'unreviewed';
      return [{ type: 'AnnotationReviewed', data: { annotationId: current.id, patientId: current.patientId, verdict: command.verdict, ...(command.reason !== undefined ? { reason: command.reason } : {}), by, credential, status } }];
    }
  }
}

function live(state: AnnotationState): { id: string; patientId: string } {
  if (!state.exists || state.patientId === null || state.annotationId === null) throw new NotFoundError('no such annotation', undefined, 'not-found');
  if (state.deleted) throw new ConflictError('the annotation was deleted', undefined, 'annotation-deleted');
  return { id: state.annotationId, patientId: state.patientId };
}

export const annotationDecider: Decider<AnnotationState, AnnotationCommand, AnnotationEvent> = {
  initialState: initialAnnotationState,
  evolve: evolveAnnotation,
  decide: decideAnnotation,
};
