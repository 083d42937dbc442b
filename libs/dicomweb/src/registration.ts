import type { ImageRegisteredData } from '@custos/imaging';
import { type DicomJson, TAG, textOf } from './dicom-json.js';
import { patientIdOf, UID } from './identity.js';

export type DicomRegistration = ImageRegisteredData & { readonly dicom: NonNullable<ImageRegisteredData['dicom']> };

/** Why an instance cannot be governed by Custos (and so is never released through it). */
export type Unregistrable = { readonly refused: 'no-patient-id' | 'patient-id-unusable' | 'foreign-issuer' | 'bad-uids' };

/**
 * What Custos registers of a DICOM instance, from its header: image id = SOP Instance UID,
 * patient = PatientID (see patientIdOf), its study and series, modality, body part, and the
 * demographics the bias reports need (PatientSex, birth year from PatientBirthDate or else from
 * PatientAge at the study date, EthnicGroup), sealed under the patient's key when stored.
 */
export function registrationOf(item: DicomJson, options: { datasetId: string; source: 'stow' | 'archive-feed'; localIssuer: string | null }): DicomRegistration | Unregistrable {
  const sopInstanceUid = textOf(item, TAG.SOPInstanceUID);
  const studyUid = textOf(item, TAG.StudyInstanceUID);
  const seriesUid = textOf(item, TAG.SeriesInstanceUID);
  const sopClassUid = textOf(item, TAG.SOPClassUID);
  if (!sopInstanceUid || !UID.test(sopInstanceUid) || !studyUid || !UID.test(studyUid) || !seriesUid || !UID.test(seriesUid)) return { refused: 'bad-uids' };
  const patient = patientIdOf(item, options.localIssuer);
  if ('refused' in patient) return patient;
  return {
    imageId: sopInstanceUid,
    patientId: patient.patientId,
    modality: clip(textOf(item, TAG.Modality) ?? 'OT', 20),
    bodySite: clip(textOf(item, TAG.BodyPartExamined) ?? 'unspecified', 100),
    datasetId: options.datasetId,
    demographics: {
      sex: clip(textOf(item, TAG.PatientSex) ?? 'unknown', 50),
      birthYear: birthYearOf(textOf(item, TAG.PatientBirthDate), textOf(item, TAG.PatientAge), textOf(item, TAG.StudyDate)),
      ethnicity: clip(textOf(item, TAG.EthnicGroup) ?? 'unknown', 100),
    },
    dicom: { studyUid, seriesUid, ...(sopClassUid && UID.test(sopClassUid) ? { sopClassUid } : {}), source: options.source },
  };
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) : text;
}

/** The birth year: from PatientBirthDate (YYYYMMDD), else the study's year less PatientAge (nnnY). */
export function birthYearOf(birthDate: string | undefined, age: string | undefined, studyDate: string | undefined): number | null {
  const valid = (year: number) => (Number.isInteger(year) && year >= 1880 && year <= 2100 ? year : null);
  if (birthDate && /^\d{8}$/.test(birthDate)) return valid(Number(birthDate.slice(0, 4)));
  const years = age && /^(\d{3})Y$/.exec(age);
  if (years && studyDate && /^\d{8}$/.test(studyDate)) return valid(Number(studyDate.slice(0, 4)) - Number(years[1]));
  return null;
}
