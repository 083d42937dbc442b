import type { Decider } from '@custos/decider';
import { AlreadyExistsError, ValidationError } from '@custos/errors';
import type { ImageEvent, ImageRegisteredData } from './image.events.js';

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
  if (typeof d.birthYear !== 'number' || !Number.isInteger(d.birthYear) || d.birthYear < 1880 || d.birthYear > 2100) throw bad('demographics.birthYear', 'must be a year from 1880 to 2100');
  if (!isText(d.ethnicity, 100)) throw bad('demographics.ethnicity', 'must be text of 1-100 characters');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isText(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= max;
}
