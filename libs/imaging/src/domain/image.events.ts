import type { PersonalFields } from '@custos/decider';

/** Imaging events: a registered image and whose it is. Readonly data, never classes. */
export interface Demographics {
  readonly sex: string;
  readonly birthYear: number;
  readonly ethnicity: string;
}

export interface ImageRegisteredData {
  readonly imageId: string;
  readonly patientId: string;
  readonly modality: string;
  readonly bodySite: string;
  readonly datasetId: string;
  readonly demographics: Demographics;
}

export type ImageRegistered = { readonly type: 'ImageRegistered'; readonly data: ImageRegisteredData };
export type ImageEvent = ImageRegistered;

export function imageStreamId(imageId: string): string {
  return `image-${imageId}`;
}

/** Personal fields: sex, birth year and ethnicity are demographics (quasi-identifiers). */
export const IMAGE_PERSONAL: PersonalFields<ImageEvent> = { ImageRegistered: ['demographics'] };
