// De-identification per purpose (issue 19 §2): pseudonyms, Orthanc's Basic Profile with the
// Retain Patient Characteristics option, de-identified QIDO results and metadata.
export { PSEUDONYM_KEY_OWNER, pseudonymPatientId, pseudonymUid, isDicomUid } from './pseudonyms.js';
export {
  ArchiveUnavailableError,
  ArchiveTimeoutError,
  DICOM_VERSION,
  RETAINED_PATIENT_CHARACTERISTICS,
  anonymizeRequest,
  referencedUidsOf,
  orthancInstanceId,
  anonymizeInstance,
  type OrthancConnection,
  type DeidInstanceIds,
  type OrthancAnonymizeRequest,
} from './orthanc.js';
export { QIDO_WHITELIST, deidentifyQidoResult } from './qido.js';
export { INLINE_BINARY_MAX_BYTES, metadataOfPart10, type BulkDataUri } from './metadata.js';
export type { DicomJsonElement, DicomJsonObject } from './dicom-json.js';
