import type { Decider } from '@custos/decider';
import { AlreadyExistsError, ConflictError, ValidationError } from '@custos/errors';
import type { ImageEvent, ImageRegisteredData, StudyRegistered, StudyRegisteredData } from './image.events.js';

/** One image's stream: registered once, never again. */
export interface ImageState {
  readonly registered: boolean;
}

export type RegisterImage = { readonly type: 'RegisterImage'; readonly image: ImageRegisteredData };

export const imageDecider: Decider<ImageState, RegisterImage, ImageEvent> = {
  initialState: { registered: false },
  evolve: () => ({ registered: true }),
  decide(command, state) {
    assertImage(command.image);
    if (state.registered) throw new AlreadyExistsError(`image ${command.image.imageId} is already registered`, { imageId: command.image.imageId }, 'image-exists');
    return [{ type: 'ImageRegistered', data: command.image }];
  },
};

const ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * What every reader of ImageRegistered relies on (the dataset read model's NOT NULL ids, the
 * directory's demographics), checked here whatever transport sent the command: ids as the
 * API takes them, text where text is due, demographics an object of sex, birth year and
 * ethnicity. The refusal names the field, never its value (demographics are personal).
 */
function assertImage(image: ImageRegisteredData): void {
  const bad = (field: string, why: string) => new ValidationError(`${field} ${why}`, { field }, 'bad-image');
  const record = image as unknown;
  if (!isPlainObject(record)) throw bad('image', 'must be an object');
  for (const field of ['imageId', 'patientId', 'datasetId'] as const) {
    if (typeof record[field] !== 'string' || !ID.test(record[field])) throw bad(field, 'must be 1-100 letters, digits or ._-');
  }
  if (!isText(record.modality, 20)) throw bad('modality', 'must be text of 1-20 characters');
  if (!isText(record.bodySite, 100)) throw bad('bodySite', 'must be text of 1-100 characters');
  const d = record.demographics;
  if (!isPlainObject(d)) throw bad('demographics', 'must be an object of sex, birthYear and ethnicity');
  if (!isText(d.sex, 50)) throw bad('demographics.sex', 'must be text of 1-50 characters');
  if (d.birthYear !== null && (typeof d.birthYear !== 'number' || !Number.isInteger(d.birthYear) || d.birthYear < 1880 || d.birthYear > 2100)) throw bad('demographics.birthYear', 'must be a year from 1880 to 2100, or null (unknown)');
  if (!isText(d.ethnicity, 100)) throw bad('demographics.ethnicity', 'must be text of 1-100 characters');
  if (record.dicom !== undefined) {
    const p = record.dicom;
    if (!isPlainObject(p)) throw bad('dicom', 'must be an object');
    for (const field of ['studyUid', 'seriesUid'] as const) if (typeof p[field] !== 'string' || !UID.test(p[field])) throw bad(`dicom.${field}`, 'must be a DICOM UID');
    if (p.sopClassUid !== undefined && (typeof p.sopClassUid !== 'string' || !UID.test(p.sopClassUid))) throw bad('dicom.sopClassUid', 'must be a DICOM UID');
    if (p.source !== 'stow' && p.source !== 'archive-feed') throw bad('dicom.source', 'must be stow or archive-feed');
  }
}

/** A DICOM UID (PS3.5 9.1): digits in dot-separated components, no leading zero, at most 64 characters. */
export const UID = /^(?=.{1,64}$)(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;

/** One study's stream: bound to one patient the first time an instance of it is registered, never to another. */
export type RegisterStudy = { readonly type: 'RegisterStudy'; readonly study: StudyRegisteredData };

export const studyDecider: Decider<StudyRegisteredData | null, RegisterStudy, StudyRegistered> = {
  initialState: null,
  evolve: (_state, event) => event.data,
  decide(command, state) {
    const { study } = command;
    if (typeof study?.studyUid !== 'string' || !UID.test(study.studyUid)) throw new ValidationError('studyUid must be a DICOM UID', { field: 'studyUid' }, 'bad-study');
    for (const field of ['patientId', 'datasetId'] as const) {
      if (typeof study[field] !== 'string' || !ID.test(study[field])) throw new ValidationError(`${field} must be 1-100 letters, digits or ._-`, { field }, 'bad-study');
    }
    if (state === null) return [{ type: 'StudyRegistered', data: study }];
    // The same study again (another instance of it): nothing new. Another patient: refused, whatever the archive says.
    if (state.patientId !== study.patientId) throw new ConflictError(`study ${study.studyUid} belongs to another patient`, { studyUid: study.studyUid }, 'study-patient-mismatch');
    return [];
  },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isText(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= max;
}
