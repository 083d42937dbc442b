/**
 * The DICOM JSON model (PS3.18 F.2): attributes keyed by eight hex digits of their tag, each
 * with its VR and a Value array (or an InlineBinary / BulkDataURI). What QIDO-RS answers and
 * WADO-RS metadata are made of.
 */
export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
export type DicomJson = Record<string, DicomJsonAttribute>;

/** The tags Custos reads. */
export const TAG = {
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  RetrieveURL: '00081190',
  FailedSOPSequence: '00081198',
  ReferencedSOPSequence: '00081199',
  ReferencedSOPClassUID: '00081150',
  ReferencedSOPInstanceUID: '00081155',
  FailureReason: '00081197',
  PatientName: '00100010',
  PatientID: '00100020',
  IssuerOfPatientID: '00100021',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  PatientAge: '00101010',
  EthnicGroup: '00102160',
  BodyPartExamined: '00180015',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
} as const;

/** The first value of an attribute as text (a PN's alphabetic form), or undefined. */
export function textOf(item: DicomJson, tag: string): string | undefined {
  const first = item[tag]?.Value?.[0];
  if (typeof first === 'string') return first.trim() || undefined;
  if (typeof first === 'number') return String(first);
  if (typeof first === 'object' && first !== null && typeof (first as { Alphabetic?: unknown }).Alphabetic === 'string') return (first as { Alphabetic: string }).Alphabetic;
  return undefined;
}

export function isDicomJsonArray(value: unknown): value is DicomJson[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
}
