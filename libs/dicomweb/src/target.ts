import type { DicomLevel } from '@custos/access';

/** What a WADO-RS request asks for. */
export interface RetrieveTarget {
  readonly level: Exclude<DicomLevel, 'search'>;
  readonly studyUid: string;
  readonly seriesUid?: string;
  readonly instanceUid?: string;
  /** For frames: the frame numbers as given (1,2,3). */
  readonly frames?: string;
}
