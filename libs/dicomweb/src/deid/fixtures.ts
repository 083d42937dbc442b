/**
 * Test fixtures only (not exported by index.ts): a synthetic DICOM Part-10 instance full of
 * identifying attributes, written with dcmjs, so the de-identification tests know every
 * identifying value they must not find again.
 */
import { randomBytes } from 'node:crypto';
import dcmjs, { type DicomJsonDataset } from 'dcmjs';

const { DicomDict } = dcmjs.data;

const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';

/** A fresh random UID (2.25 + 128 random bits). */
export function randomUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString(10)}`;
}

export interface SyntheticIds {
  patientId: string;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  frameOfReferenceUid: string;
}

/** The identifying values a synthetic instance carries (besides its UIDs and PatientID). */
export function identifyingValues(tag: string): Record<string, string> {
  return {
    PatientName: `Doe${tag}^Jane^Q`,
    IssuerOfPatientID: `HOSP-ISSUER-${tag}`,
    PatientBirthDate: '19610317',
    PatientAddress: `12 Rue des Lilas ${tag}, Liege`,
    OtherPatientID: `OTHER-${tag}`,
    OtherPatientName: `Smith${tag}^Janet`,
    PatientMotherBirthName: `Martin${tag}`,
    PatientTelephoneNumbers: `+32-4-555-${tag.slice(0, 4)}`,
    InstitutionName: `Saint Mercy ${tag} Hospital`,
    InstitutionAddress: `1 Hospital Road ${tag}`,
    ReferringPhysicianName: `House${tag}^Gregory`,
    PerformingPhysicianName: `Cuddy${tag}^Lisa`,
    OperatorsName: `Tech${tag}^Tom`,
    AccessionNumber: `ACC${tag}`.slice(0, 16),
    StudyID: `SID${tag}`.slice(0, 16),
    StudyDate: '20240229',
    StudyTime: '134501',
    SeriesDate: '20240229',
    AcquisitionDateTime: '20240229134502',
    DeviceSerialNumber: `SN-${tag}`,
    StationName: `CT${tag}`.slice(0, 16),
    StudyDescription: `Chest of Jane Doe${tag}`,
    PatientComments: `lives at 12 Rue des Lilas ${tag}`,
    RequestingPhysician: `Wilson${tag}^James`,
    PrivateNote: `private note on Doe${tag}`,
  };
}

export interface SyntheticInstance {
  bytes: Uint8Array;
  pixels: Uint8Array;
  ids: SyntheticIds;
  identifying: Record<string, string>;
}

/**
 * A 16 × 16 8-bit MONOCHROME2 secondary-capture instance with identifying attributes (also
 * inside a sequence), retained patient characteristics, and recognisable pixel data.
 */
export function syntheticInstance(ids: Partial<SyntheticIds> & { references?: SyntheticIds[] } = {}, tag = randomBytes(4).toString('hex')): SyntheticInstance {
  const full: SyntheticIds = {
    patientId: ids.patientId ?? `MRN${tag}`,
    studyUid: ids.studyUid ?? randomUid(),
    seriesUid: ids.seriesUid ?? randomUid(),
    sopInstanceUid: ids.sopInstanceUid ?? randomUid(),
    frameOfReferenceUid: ids.frameOfReferenceUid ?? randomUid(),
  };
  const v = identifyingValues(tag);
  const pixels = new Uint8Array(16 * 16).map((_, i) => (i * 37 + 11) & 0xff);
  const pn = (name: string) => ({ vr: 'PN', Value: [{ Alphabetic: name }] });
  const str = (vr: string, value: string) => ({ vr, Value: [value] });
  const meta: DicomJsonDataset = {
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': str('UI', SECONDARY_CAPTURE),
    '00020003': str('UI', full.sopInstanceUid),
    '00020010': str('UI', EXPLICIT_VR_LE),
    '00020012': str('UI', '1.2.826.0.1.3680043.9.7433.1'),
  };
  const dataset: DicomJsonDataset = {
    '00080005': str('CS', 'ISO_IR 100'),
    '00080016': str('UI', SECONDARY_CAPTURE),
    '00080018': str('UI', full.sopInstanceUid),
    '00080020': str('DA', v.StudyDate),
    '00080021': str('DA', v.SeriesDate),
    '00080030': str('TM', v.StudyTime),
    '0008002A': str('DT', v.AcquisitionDateTime),
    '00080050': str('SH', v.AccessionNumber),
    '00080060': str('CS', 'OT'),
    '00080064': str('CS', 'WSD'),
    '00080080': str('LO', v.InstitutionName),
    '00080081': str('ST', v.InstitutionAddress),
    '00080090': pn(v.ReferringPhysicianName),
    '00081010': str('SH', v.StationName),
    '00081030': str('LO', v.StudyDescription),
    '00081050': pn(v.PerformingPhysicianName),
    '00081070': pn(v.OperatorsName),
    '00090010': str('LO', 'CUSTOS SYNTHETIC'), // a private creator and its private element
    '00091010': str('LO', v.PrivateNote),
    '00100010': pn(v.PatientName),
    '00100020': str('LO', full.patientId),
    '00100021': str('LO', v.IssuerOfPatientID),
    '00100030': str('DA', v.PatientBirthDate),
    '00100040': str('CS', 'F'),
    '00101000': str('LO', v.OtherPatientID),
    '00101001': pn(v.OtherPatientName),
    '00101002': { vr: 'SQ', Value: [{ '00100020': str('LO', v.OtherPatientID), '00100021': str('LO', v.IssuerOfPatientID) }] },
    '00101010': str('AS', '063Y'),
    '00101020': { vr: 'DS', Value: [1.68] },
    '00101030': { vr: 'DS', Value: [61.5] },
    '00101040': str('LO', v.PatientAddress),
    '00101060': pn(v.PatientMotherBirthName),
    '00102154': str('SH', v.PatientTelephoneNumbers),
    '00102160': str('SH', 'EUROPEAN'),
    '001021A0': str('CS', 'NO'),
    '00104000': str('LT', v.PatientComments),
    '00181000': str('LO', v.DeviceSerialNumber),
    '0020000D': str('UI', full.studyUid),
    '0020000E': str('UI', full.seriesUid),
    '00200010': str('SH', v.StudyID),
    '00200011': { vr: 'IS', Value: [3] },
    '00200013': { vr: 'IS', Value: [7] },
    '00200052': str('UI', full.frameOfReferenceUid),
    '00321032': pn(v.RequestingPhysician),
    ...(ids.references?.length
      ? {
          // Referenced Image Sequence, and Referenced Series Sequence with the series' UID.
          '00081140': { vr: 'SQ', Value: ids.references.map((r) => ({ '00081150': str('UI', SECONDARY_CAPTURE), '00081155': str('UI', r.sopInstanceUid) })) },
          '00081115': { vr: 'SQ', Value: ids.references.map((r) => ({ '0020000E': str('UI', r.seriesUid) })) },
        }
      : {}),
    '00280002': { vr: 'US', Value: [1] },
    '00280004': str('CS', 'MONOCHROME2'),
    '00280010': { vr: 'US', Value: [16] },
    '00280011': { vr: 'US', Value: [16] },
    '00280100': { vr: 'US', Value: [8] },
    '00280101': { vr: 'US', Value: [8] },
    '00280102': { vr: 'US', Value: [7] },
    '00280103': { vr: 'US', Value: [0] },
    '7FE00010': { vr: 'OW', Value: [pixels.slice().buffer] },
  };
  const dict = new DicomDict(meta);
  dict.dict = dataset;
  return { bytes: new Uint8Array(dict.write()), pixels, ids: full, identifying: v };
}
