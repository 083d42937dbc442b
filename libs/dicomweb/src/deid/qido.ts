/**
 * QIDO-RS results for de-identified purposes: a whitelist, not a blacklist. An attribute the
 * archive adds tomorrow (or a private one, or a query key the client asked for with includefield)
 * is dropped unless it is listed here.
 */
import type { DicomJsonObject } from './dicom-json.js';
import { pseudonymPatientId } from './pseudonyms.js';

const PATIENT_ID = '00100020';

/** The attributes a de-identified QIDO result keeps, tag → keyword. */
export const QIDO_WHITELIST: Readonly<Record<string, string>> = Object.freeze({
  // The archive's own UIDs are kept (not pseudonymised) on purpose: the client retrieves by
  // them (WADO-RS /studies/{uid}/...), and the gateway decides and de-identifies that retrieve;
  // the instances it then releases carry the pseudonymous UIDs.
  '0020000D': 'StudyInstanceUID',
  '0020000E': 'SeriesInstanceUID',
  '00080018': 'SOPInstanceUID',
  '00080016': 'SOPClassUID',
  '00080060': 'Modality',
  '00080061': 'ModalitiesInStudy',
  '00180015': 'BodyPartExamined',
  '00201206': 'NumberOfStudyRelatedSeries',
  '00201208': 'NumberOfStudyRelatedInstances',
  '00201209': 'NumberOfSeriesRelatedInstances',
  '00200011': 'SeriesNumber',
  '00200013': 'InstanceNumber',
  '00280010': 'Rows',
  '00280011': 'Columns',
  // Retain Patient Characteristics Option, the same attributes as the instances keep.
  '00100040': 'PatientSex',
  '00101010': 'PatientAge',
  '00101020': 'PatientSize',
  '00101030': 'PatientWeight',
  '00102160': 'EthnicGroup',
  '001021A0': 'SmokingStatus',
  '001021C0': 'PregnancyStatus',
  '00102203': 'PatientSexNeutered',
  // The archive's RetrieveURL, kept as is here; the gateway rewrites it to its own address.
  '00081190': 'RetrieveURL',
  '00080005': 'SpecificCharacterSet',
});

/**
 * One QIDO-RS result (a DICOM JSON object) for a de-identified purpose: the whitelisted
 * attributes (deep copies), PatientID set to the patient's pseudonym in the dataset, everything
 * else (names, dates, accession number, institution, physicians, descriptions, private tags...)
 * dropped. `patientId` is the archive's PatientID (qualified as the caller does elsewhere).
 */
export function deidentifyQidoResult(item: DicomJsonObject, patient: { patientId: string; datasetId: string }, key: Uint8Array): DicomJsonObject {
  const out: DicomJsonObject = {};
  for (const [tag, element] of Object.entries(item)) {
    const t = tag.toUpperCase();
    if (Object.hasOwn(QIDO_WHITELIST, t) && element && typeof element === 'object') out[t] = structuredClone(element);
  }
  out[PATIENT_ID] = { vr: 'LO', Value: [pseudonymPatientId(key, patient.patientId, patient.datasetId)] };
  return Object.fromEntries(Object.entries(out).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}
