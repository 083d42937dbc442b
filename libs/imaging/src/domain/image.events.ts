import type { PersonalFields } from '@custos/decider';

/** Imaging events: a registered image and whose it is. Readonly data, never classes. */
export interface Demographics {
  readonly sex: string;
  /** null when the source does not say (a DICOM header with neither PatientBirthDate nor PatientAge). */
  readonly birthYear: number | null;
  readonly ethnicity: string;
}

/** Where a DICOM instance sits in its archive (images stored or found through DICOMweb). */
export interface DicomPlacement {
  readonly studyUid: string;
  readonly seriesUid: string;
  readonly sopClassUid?: string;
  /** How Custos learnt of it: stored through Custos (STOW-RS), or found in the archive's changes feed. */
  readonly source: 'stow' | 'archive-feed';
}

export interface ImageRegisteredData {
  readonly imageId: string;
  readonly patientId: string;
  readonly modality: string;
  readonly bodySite: string;
  readonly datasetId: string;
  readonly demographics: Demographics;
  /** For a DICOM instance (imageId = its SOP Instance UID): its study and series. */
  readonly dicom?: DicomPlacement;
}

/** A DICOM study, bound once to its patient: what a study-level retrieve is decided against. */
export interface StudyRegisteredData {
  readonly studyUid: string;
  readonly patientId: string;
  readonly datasetId: string;
}

export type ImageRegistered = { readonly type: 'ImageRegistered'; readonly data: ImageRegisteredData };
export type StudyRegistered = { readonly type: 'StudyRegistered'; readonly data: StudyRegisteredData };
export type ImageEvent = ImageRegistered;

export function studyStreamId(studyUid: string): string {
  return `study-${studyUid}`;
}

export function imageStreamId(imageId: string): string {
  return `image-${imageId}`;
}

/** Personal fields: sex, birth year and ethnicity are demographics (quasi-identifiers). */
export const IMAGE_PERSONAL: PersonalFields<ImageEvent> = { ImageRegistered: ['demographics'] };
