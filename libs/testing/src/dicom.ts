import { createHash, randomBytes } from 'node:crypto';
import dcmjs, { type NaturalDataset } from 'dcmjs';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;

/** Explicit VR Little Endian, the transfer syntax of every synthetic instance. */
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const IMPLEMENTATION_CLASS_UID = '2.25.187613902563914862771011843542914427470';
const SOP_CLASSES: Readonly<Record<string, string>> = {
  CT: '1.2.840.10008.5.1.4.1.1.2', // CT Image Storage
  MR: '1.2.840.10008.5.1.4.1.1.4', // MR Image Storage
};
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

/** A fresh UID under the 2.25 root (PS3.5 B.2: a UUID as a decimal integer), at most 44 characters. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;
}

export interface SyntheticInstanceOptions {
  /** PatientID (the MRN); default a fresh `P-<hex>`. */
  patientId?: string;
  issuerOfPatientId?: string;
  /** PatientName in DICOM PN form, default 'Synthetic^Patient'. */
  patientName?: string;
  /** PatientBirthDate, YYYYMMDD, default '19700101'. */
  birthDate?: string;
  /** PatientSex: 'F', 'M' or 'O', default 'O'. */
  sex?: string;
  /** PatientAge, AS form ('045Y'). */
  age?: string;
  ethnicGroup?: string;
  /** Default: fresh UIDs (newUid()). */
  studyUid?: string;
  seriesUid?: string;
  sopInstanceUid?: string;
  /** Default 'CT' (CT Image Storage; 'MR' → MR Image Storage, others → Secondary Capture). */
  modality?: string;
  /** BodyPartExamined, default 'CHEST'. */
  bodyPart?: string;
  /** Image size, default 64 × 64, 16 bits allocated, MONOCHROME2. */
  rows?: number;
  columns?: number;
  /** About this many bytes of pixel data instead (a square-ish image; e.g. 512 * 1024 for the bench). */
  pixelBytes?: number;
  /** Seed of the deterministic pixel pattern; default derived from the SOP Instance UID. */
  seed?: number;
  seriesNumber?: number;
  instanceNumber?: number;
  // Identifying tags a de-identification must remove or replace:
  institutionName?: string;
  referringPhysicianName?: string;
  accessionNumber?: string;
  studyId?: string;
  patientAddress?: string;
  otherPatientIds?: string[];
  /** YYYYMMDD, default '20240102'. */
  studyDate?: string;
  /** HHMMSS, default '101500'. */
  studyTime?: string;
  /** Any more tags, by keyword in dcmjs's naturalized form (e.g. { PerformingPhysicianName: 'Doe^J' }). */
  extra?: NaturalDataset;
}

/** The identifiers of one synthetic instance and its Part-10 bytes. */
export interface SyntheticInstance {
  patientId: string;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  bytes: Buffer;
}

/**
 * A valid DICOM Part-10 file (preamble, DICM, file meta, Explicit VR Little Endian dataset)
 * made with dcmjs: patient, study, series and instance modules plus 16-bit MONOCHROME2 pixel
 * data in a deterministic pattern. Every identifying tag is set, so a de-identification test
 * can look for each one after. Returns the bytes; `syntheticInstanceWithIds` also returns the UIDs.
 */
export function syntheticInstance(opts: SyntheticInstanceOptions = {}): Buffer {
  return syntheticInstanceWithIds(opts).bytes;
}

export function syntheticInstanceWithIds(opts: SyntheticInstanceOptions = {}): SyntheticInstance {
  const patientId = opts.patientId ?? `P-${randomBytes(6).toString('hex')}`;
  const studyUid = opts.studyUid ?? newUid();
  const seriesUid = opts.seriesUid ?? newUid();
  const sopInstanceUid = opts.sopInstanceUid ?? newUid();
  const modality = opts.modality ?? 'CT';
  const sopClassUid = SOP_CLASSES[modality] ?? SECONDARY_CAPTURE;
  const { rows, columns } = imageSize(opts);
  const seed = opts.seed ?? createHash('sha256').update(sopInstanceUid).digest().readUInt32BE(0);

  const dataset: NaturalDataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    SOPClassUID: sopClassUid,
    SOPInstanceUID: sopInstanceUid,
    StudyDate: opts.studyDate ?? '20240102',
    SeriesDate: opts.studyDate ?? '20240102',
    ContentDate: opts.studyDate ?? '20240102',
    StudyTime: opts.studyTime ?? '101500',
    SeriesTime: opts.studyTime ?? '101500',
    ContentTime: opts.studyTime ?? '101500',
    AccessionNumber: opts.accessionNumber ?? 'ACC-0001',
    Modality: modality,
    Manufacturer: 'Custos synthetic',
    InstitutionName: opts.institutionName ?? 'Synthetic General Hospital',
    ReferringPhysicianName: opts.referringPhysicianName ?? 'Referrer^Rita',
    StudyDescription: 'Synthetic study',
    SeriesDescription: 'Synthetic series',
    PatientName: opts.patientName ?? 'Synthetic^Patient',
    PatientID: patientId,
    ...(opts.issuerOfPatientId !== undefined ? { IssuerOfPatientID: opts.issuerOfPatientId } : {}),
    PatientBirthDate: opts.birthDate ?? '19700101',
    PatientSex: opts.sex ?? 'O',
    ...(opts.otherPatientIds !== undefined ? { OtherPatientIDs: opts.otherPatientIds } : {}),
    ...(opts.age !== undefined ? { PatientAge: opts.age } : {}),
    ...(opts.patientAddress !== undefined ? { PatientAddress: opts.patientAddress } : {}),
    ...(opts.ethnicGroup !== undefined ? { EthnicGroup: opts.ethnicGroup } : {}),
    BodyPartExamined: opts.bodyPart ?? 'CHEST',
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: seriesUid,
    StudyID: opts.studyId ?? 'S-0001',
    SeriesNumber: opts.seriesNumber ?? 1,
    InstanceNumber: opts.instanceNumber ?? 1,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    ...(modality === 'CT' ? { RescaleIntercept: -1024, RescaleSlope: 1 } : {}),
    ...opts.extra,
    PixelData: [pixelPattern(rows, columns, seed)],
    _vrMap: { PixelData: 'OW' },
  };
  const meta: NaturalDataset = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'CUSTOS_TEST',
  };
  const file = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  file.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return { patientId, studyUid, seriesUid, sopInstanceUid, bytes: Buffer.from(file.write()) };
}

export interface SyntheticStudy {
  patientId: string;
  studyUid: string;
  seriesUids: string[];
  /** Series by series, in order; each with its Part-10 bytes. */
  instances: SyntheticInstance[];
}

/**
 * One study of `series` series with `instancesPerSeries` instances each (default 1 × 1), all
 * with the patient and study of `opts`; series and instance UIDs are fresh, numbers count from 1.
 */
export function syntheticStudy(
  opts: Omit<SyntheticInstanceOptions, 'seriesUid' | 'sopInstanceUid' | 'seriesNumber' | 'instanceNumber'> = {},
  shape: { series?: number; instancesPerSeries?: number } = {},
): SyntheticStudy {
  const patientId = opts.patientId ?? `P-${randomBytes(6).toString('hex')}`;
  const studyUid = opts.studyUid ?? newUid();
  const seriesUids: string[] = [];
  const instances: SyntheticInstance[] = [];
  for (let s = 0; s < (shape.series ?? 1); s++) {
    const seriesUid = newUid();
    seriesUids.push(seriesUid);
    for (let i = 0; i < (shape.instancesPerSeries ?? 1); i++) {
      instances.push(syntheticInstanceWithIds({ ...opts, patientId, studyUid, seriesUid, seriesNumber: s + 1, instanceNumber: i + 1 }));
    }
  }
  return { patientId, studyUid, seriesUids, instances };
}

/** Parses a Part-10 file with dcmjs into its naturalized dataset (keyword → value; PN as [{ Alphabetic }]). */
export function readInstance(bytes: Uint8Array): NaturalDataset {
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(copy).dict);
}

/** A STOW-RS / WADO-RS body: multipart/related; type="application/dicom" with one part per instance. */
export function multipartDicom(instances: readonly Uint8Array[], boundary = `custos-${randomBytes(12).toString('hex')}`): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const instance of instances) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), Buffer.from(instance), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; type="application/dicom"; boundary=${boundary}` };
}

/** The parts of a multipart/related body (e.g. a WADO-RS answer), each with its headers (lower-case names). */
export function parseMultipart(body: Uint8Array, contentType: string): { headers: Record<string, string>; body: Buffer }[] {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!match) throw new Error(`no boundary in content type ${contentType}`);
  const delimiter = Buffer.from(`--${match[1] ?? match[2]}`);
  const data = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let at = data.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (data.subarray(start, start + 2).toString() === '--') break;
    const headersEnd = data.indexOf('\r\n\r\n', start);
    const next = data.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headersEnd);
    if (headersEnd < 0 || next < 0) throw new Error('truncated multipart body');
    const headers: Record<string, string> = {};
    for (const line of data.subarray(start, headersEnd).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    parts.push({ headers, body: data.subarray(headersEnd + 4, next) });
    at = next + 2;
  }
  return parts;
}

function imageSize(opts: SyntheticInstanceOptions): { rows: number; columns: number } {
  if (opts.pixelBytes !== undefined) {
    const pixels = Math.max(1, Math.ceil(opts.pixelBytes / 2));
    const columns = Math.ceil(Math.sqrt(pixels));
    return { rows: Math.ceil(pixels / columns), columns };
  }
  return { rows: opts.rows ?? 64, columns: opts.columns ?? 64 };
}

/** 12-bit values in 16-bit words, little endian: a gradient with a seed-dependent texture. */
function pixelPattern(rows: number, columns: number, seed: number): ArrayBuffer {
  const pixels = new Uint16Array(rows * columns);
  let state = seed >>> 0 || 1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      pixels[r * columns + c] = ((r * 16 + c * 8) & 0x0fff) ^ ((state >>> 0) & 0x00ff);
    }
  }
  return pixels.buffer;
}
