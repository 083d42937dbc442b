/**
 * De-identification of one instance by the archive itself: Orthanc's implementation of the
 * PS3.15 Annex E Basic Application Level Confidentiality Profile (`POST
 * /instances/{id}/anonymize`), told to retain the patient characteristics and to use Custos's
 * pseudonyms for the PatientID and the UIDs. Only the request body is built here (pure); the two
 * calls to the archive are plain fetches with basic authentication, and no DICOM value is ever
 * logged or put into an error message.
 */
import { ArchiveTimeoutError, ArchiveUnavailableError } from '../archive.js';
import { pseudonymPatientId, pseudonymUid } from './pseudonyms.js';

// One pair of archive errors for the whole gateway (503 archive-unavailable, 504 archive-timeout).
export { ArchiveTimeoutError, ArchiveUnavailableError };

/** Orthanc's REST root and its credentials (`user:password`, as in ORTHANC_AUTH). */
export interface OrthancConnection {
  url: string;
  auth: string;
  /** Per request, default 30 s. */
  timeoutMs?: number;
}

/** What identifies an instance to de-identify, as the archive knows it, and the dataset it is released into. */
export interface DeidInstanceIds {
  /** The archive's PatientID (qualified by IssuerOfPatientID where the caller does so). */
  patientId: string;
  datasetId: string;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  /**
   * The instance's Frame of Reference UID where it has one. Replaced by its pseudonym too, so
   * the slices of a series stay in one frame of reference (Orthanc would make a random one at
   * each call). anonymizeInstance reads it from the archive when it is not given.
   */
  frameOfReferenceUid?: string;
  /**
   * UIDs of other instances, series, studies or frames of reference that this instance
   * references inside sequences (a segmentation's or a presentation state's Referenced SOP
   * Instance UIDs...), by their Orthanc path (`0008,1140[0].0008,1155`). Replaced by their
   * pseudonyms, so a reference still resolves among de-identified instances (Orthanc would make
   * random ones). anonymizeInstance reads them from the archive when `frameOfReferenceUid` and
   * `referencedUids` are both not given.
   */
  referencedUids?: Readonly<Record<string, string>>;
}

/** The attributes that hold the UID of a study, series, instance or frame of reference (never a class UID). */
const INSTANCE_UID_TAGS = new Set(['0008,0018', '0008,1155', '0020,000D', '0020,000E', '0020,0052', '3006,0024']);

/**
 * The UIDs to pseudonymise besides the study, series and instance's own: the top-level Frame
 * of Reference UID, and the study/series/instance/frame-of-reference UIDs inside sequences, from
 * the instance's tags as Orthanc's `GET /instances/{id}/tags?short` gives them.
 */
export function referencedUidsOf(shortTags: unknown): { frameOfReferenceUid?: string; referencedUids: Record<string, string> } {
  const referencedUids: Record<string, string> = {};
  const walk = (dataset: unknown, prefix: string) => {
    if (typeof dataset !== 'object' || dataset === null || Array.isArray(dataset)) return;
    for (const [rawTag, value] of Object.entries(dataset)) {
      const tag = rawTag.toUpperCase();
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${prefix}${tag}[${i}].`));
      else if (prefix !== '' && INSTANCE_UID_TAGS.has(tag) && typeof value === 'string' && value.trim() !== '') referencedUids[`${prefix}${tag}`] = value.trim();
    }
  };
  walk(shortTags, '');
  const top = typeof shortTags === 'object' && shortTags !== null ? (shortTags as Record<string, unknown>)['0020,0052'] : undefined;
  return { frameOfReferenceUid: typeof top === 'string' && top.trim() !== '' ? top.trim() : undefined, referencedUids };
}

/**
 * The PS3.15 edition Orthanc follows. Orthanc 1.10.1 knows 2008, 2017c and 2021b (2021b since
 * 1.9.4, and its default as the highest it knows; 2023b came with 1.12.2). Set explicitly so
 * that an Orthanc upgrade does not change the profile silently.
 */
export const DICOM_VERSION = '2021b';

/**
 * Retain Patient Characteristics Option (PS3.15 E.3.7): the attributes its column of Table
 * E.1-1 marks K, which the Basic Profile alone would remove or empty: Patient's Sex (0010,0040),
 * Patient's Age (0010,1010), Patient's Size (0010,1020), Patient's Weight (0010,1030), Ethnic
 * Group (0010,2160), Smoking Status (0010,21A0), Pregnancy Status (0010,21C0), Patient's Sex
 * Neutered (0010,2203). The option's C attributes (Allergies, Medical Alerts, Additional Patient
 * History, Occupation, Special Needs, Patient State) would need cleaning of free text, which
 * Orthanc does not do: they are removed, as by the Basic Profile.
 */
export const RETAINED_PATIENT_CHARACTERISTICS = [
  'PatientSex',
  'PatientAge',
  'PatientSize',
  'PatientWeight',
  'EthnicGroup',
  'SmokingStatus',
  'PregnancyStatus',
  '0010,2203', // Patient's Sex Neutered (keyword not in every DCMTK dictionary)
] as const;

/** The JSON body of Orthanc's `POST /instances/{id}/anonymize`. */
export interface OrthancAnonymizeRequest {
  Replace: Record<string, unknown>;
  Keep: string[];
  KeepPrivateTags: false;
  Force: true;
  DicomVersion: string;
}

/**
 * The anonymisation request for one instance: Basic Profile (DicomVersion 2021b), Retain Patient
 * Characteristics, PatientID and PatientName replaced by the pseudonym, the study, series and
 * instance UIDs replaced by `pseudonymUid` (Orthanc's own would be random at each call, so two
 * instances of one study would no longer be one study), private tags removed. `Force` is needed
 * for Orthanc to accept replacing PatientID and the UIDs. The de-identification method is
 * recorded in the instance (PatientIdentityRemoved YES is set by Orthanc).
 */
export function anonymizeRequest(ids: DeidInstanceIds, key: Uint8Array): OrthancAnonymizeRequest {
  const pseudonym = pseudonymPatientId(key, ids.patientId, ids.datasetId);
  return {
    Replace: {
      PatientID: pseudonym,
      PatientName: pseudonym,
      StudyInstanceUID: pseudonymUid(key, ids.studyUid, ids.datasetId),
      SeriesInstanceUID: pseudonymUid(key, ids.seriesUid, ids.datasetId),
      SOPInstanceUID: pseudonymUid(key, ids.sopInstanceUid, ids.datasetId),
      // Only when the instance has one: Replace would add the attribute otherwise.
      ...(ids.frameOfReferenceUid ? { FrameOfReferenceUID: pseudonymUid(key, ids.frameOfReferenceUid, ids.datasetId) } : {}),
      ...Object.fromEntries(Object.entries(ids.referencedUids ?? {}).map(([path, uid]) => [path, pseudonymUid(key, uid, ids.datasetId)])),
      // LO, 64 characters at most; the coded form below is the normative one.
      DeidentificationMethod: `PS3.15 ${DICOM_VERSION} Basic+RetainPatChars; Custos HMAC`,
      DeidentificationMethodCodeSequence: [
        { CodeValue: '113100', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Basic Application Confidentiality Profile' },
        { CodeValue: '113108', CodingSchemeDesignator: 'DCM', CodeMeaning: 'Retain Patient Characteristics Option' },
      ],
    },
    Keep: [...RETAINED_PATIENT_CHARACTERISTICS],
    KeepPrivateTags: false,
    Force: true,
    DicomVersion: DICOM_VERSION,
  };
}

/** The network cause of a failed fetch (e.g. `connect ECONNREFUSED 127.0.0.1:8042`): never a DICOM value. */
function causeOf(e: unknown): string {
  const cause = typeof e === 'object' && e !== null && 'cause' in e ? e.cause : undefined;
  const message = typeof cause === 'object' && cause !== null && 'message' in cause ? cause.message : undefined;
  return typeof message === 'string' ? message : 'network error';
}

async function call(orthanc: OrthancConnection, path: string, init: { method: string; body?: string; contentType?: string }): Promise<Response> {
  const headers: Record<string, string> = {
    authorization: `Basic ${Buffer.from(orthanc.auth, 'utf8').toString('base64')}`,
  };
  if (init.contentType) headers['content-type'] = init.contentType;
  const timeoutMs = orthanc.timeoutMs ?? 30_000;
  let res: Response;
  try {
    res = await fetch(new URL(path, orthanc.url.endsWith('/') ? orthanc.url : `${orthanc.url}/`), {
      method: init.method,
      headers,
      body: init.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    // Not `instanceof Error`: fetch's DOMException may come from another realm (Jest's vm).
    const name = typeof e === 'object' && e !== null && 'name' in e ? e.name : undefined;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new ArchiveTimeoutError(`the archive did not answer ${init.method} ${path.split('/')[0]} within ${timeoutMs} ms`);
    }
    throw new ArchiveUnavailableError(`the archive is unreachable (${causeOf(e)})`);
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw new ArchiveUnavailableError(`the archive refused Custos's credentials (HTTP ${res.status})`);
  }
  if (res.status >= 500) {
    await res.body?.cancel();
    throw new ArchiveUnavailableError(`the archive failed (HTTP ${res.status})`);
  }
  return res;
}

/**
 * The Orthanc id of the instance with this SOP Instance UID (`POST /tools/lookup`), or null
 * when the archive has none.
 */
export async function orthancInstanceId(orthanc: OrthancConnection, sopInstanceUid: string): Promise<string | null> {
  const res = await call(orthanc, 'tools/lookup', { method: 'POST', body: sopInstanceUid, contentType: 'text/plain' });
  if (!res.ok) {
    await res.body?.cancel();
    // Orthanc answers 400 for a string it cannot look up: nothing by that UID.
    if (res.status === 400 || res.status === 404) return null;
    throw new ArchiveUnavailableError(`the archive's lookup answered HTTP ${res.status}`);
  }
  const found = (await res.json()) as unknown;
  if (!Array.isArray(found)) throw new ArchiveUnavailableError("the archive's lookup answered something else than a list");
  const instance = found.find((r): r is { ID: string; Type: string } => typeof r === 'object' && r !== null && r.Type === 'Instance' && typeof r.ID === 'string');
  return instance?.ID ?? null;
}

/** The instance's tags as Orthanc's `tags?short` (long values left out by Orthanc), or null when it is gone. */
async function tagsOf(orthanc: OrthancConnection, id: string): Promise<unknown> {
  const res = await call(orthanc, `instances/${encodeURIComponent(id)}/tags?short`, { method: 'GET' });
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  return (await res.json()) as unknown;
}

/**
 * The de-identified Part-10 file of one instance (see `anonymizeRequest`), or null when the
 * archive has no instance with `ids.sopInstanceUid`. Throws ArchiveUnavailableError (503) when
 * the archive is down or failing, ArchiveTimeoutError (504) when it is too slow.
 */
export async function anonymizeInstance(orthanc: OrthancConnection, ids: DeidInstanceIds, key: Uint8Array): Promise<Uint8Array | null> {
  anonymizeRequest(ids, key); // before any I/O: a bad key or id fails here
  const id = await orthancInstanceId(orthanc, ids.sopInstanceUid);
  if (id === null) return null;
  const known = ids.frameOfReferenceUid !== undefined || ids.referencedUids !== undefined;
  const body = JSON.stringify(anonymizeRequest(known ? ids : { ...ids, ...referencedUidsOf(await tagsOf(orthanc, id)) }, key));
  const res = await call(orthanc, `instances/${encodeURIComponent(id)}/anonymize`, { method: 'POST', body, contentType: 'application/json' });
  if (res.status === 404) {
    await res.body?.cancel();
    return null; // deleted between the lookup and the anonymisation
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`the archive refused to anonymise the instance (HTTP ${res.status})`);
  }
  return new Uint8Array(await res.arrayBuffer());
}
