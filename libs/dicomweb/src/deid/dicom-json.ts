/** The DICOM JSON model (PS3.18 F.2): tags as 8 upper-case hex digits, each with its VR and one of Value, InlineBinary, BulkDataURI. */
export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
export type DicomJsonObject = Record<string, DicomJsonElement>;
