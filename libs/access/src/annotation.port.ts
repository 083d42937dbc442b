/**
 * Whose an annotation is and which dataset it belongs to, for access decisions: a port the
 * annotation context implements (wired in `@custos/contexts`), so access never depends on it.
 */
export abstract class AnnotationOwners {
  abstract owner(annotationId: string): Promise<{ patientId: string; datasetId: string } | null>;
}

/**
 * The resource id of "the annotations of image X" (a listing), under resource type
 * `annotation`: decided against the image's owner, and shown as such in the trail.
 */
export const ANNOTATIONS_OF_IMAGE = 'image:';

export function annotationsOfImage(imageId: string): string {
  return `${ANNOTATIONS_OF_IMAGE}${imageId}`;
}
