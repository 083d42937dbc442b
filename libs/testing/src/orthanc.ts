import { multipartDicom } from './dicom.js';

/** The archive the global setup made available (scripts/orthanc.sh env). */
export interface OrthancEnv {
  /** DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web (DICOMWEB_UPSTREAM). */
  dicomweb: string;
  /** REST root, e.g. http://127.0.0.1:8042 (ORTHANC_URL). */
  url: string;
  /** `user:password` (ORTHANC_AUTH). */
  auth: string;
  /** The 0600 file holding `user:password` (DICOMWEB_UPSTREAM_CREDENTIALS_FILE). */
  credentialsFile: string;
}

/** The archive's coordinates from the environment the Jest global setup filled in. */
export function orthancFromEnv(): OrthancEnv {
  const env = {
    dicomweb: process.env.DICOMWEB_UPSTREAM,
    url: process.env.ORTHANC_URL,
    auth: process.env.ORTHANC_AUTH,
    credentialsFile: process.env.DICOMWEB_UPSTREAM_CREDENTIALS_FILE,
  };
  const missing = Object.entries({
    DICOMWEB_UPSTREAM: env.dicomweb,
    ORTHANC_URL: env.url,
    ORTHANC_AUTH: env.auth,
    DICOMWEB_UPSTREAM_CREDENTIALS_FILE: env.credentialsFile,
  })
    .filter(([, value]) => !value)
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new Error(
      `Orthanc is not configured (${missing.join(', ')} unset): run the tests through Jest (its global setup starts ` +
        'scripts/orthanc.sh), or set them from `bash scripts/orthanc.sh env`',
    );
  }
  return env as OrthancEnv;
}

/** `Basic ...` for the archive's user. */
export function orthancAuthorization(auth = orthancFromEnv().auth): string {
  return `Basic ${Buffer.from(auth).toString('base64')}`;
}

/**
 * fetch against the archive with its credentials: `path` is relative to ORTHANC_URL
 * ('/patients', '/dicom-web/studies?PatientID=x') or an absolute URL.
 */
export function orthancRest(path: string, init: RequestInit = {}): Promise<Response> {
  const orthanc = orthancFromEnv();
  const headers = new Headers(init.headers);
  headers.set('Authorization', orthancAuthorization(orthanc.auth));
  const url = /^https?:\/\//.test(path) ? path : `${orthanc.url}${path.startsWith('/') ? '' : '/'}${path}`;
  return fetch(url, { ...init, headers });
}

/** The answer of Orthanc's REST upload (POST /instances). */
export interface OrthancStored {
  ID: string;
  ParentPatient: string;
  ParentStudy: string;
  ParentSeries: string;
  Path: string;
  Status: string;
}

/** Stores one Part-10 file through Orthanc's own REST upload (not DICOMweb): POST /instances. */
export async function orthancUpload(bytes: Uint8Array): Promise<OrthancStored> {
  const res = await orthancRest('/instances', { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/dicom' } });
  if (!res.ok) throw new Error(`Orthanc upload failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as OrthancStored;
}

/** STOW-RS straight to the archive (POST {DICOMWEB_UPSTREAM}/studies); returns the response. */
export function orthancStow(instances: readonly Uint8Array[]): Promise<Response> {
  const { body, contentType } = multipartDicom(instances);
  return orthancRest(`${orthancFromEnv().dicomweb}/studies`, {
    method: 'POST',
    body,
    headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' },
  });
}

/**
 * Deletes every patient in the archive (DELETE /patients/{id} for each of GET /patients) and
 * returns how many. For the bench and single-worker runs only: Jest runs two workers against
 * the same archive, so a test must use fresh UIDs and patient ids (syntheticInstance does)
 * and never wipe what another test may be reading.
 */
export async function resetArchive(): Promise<number> {
  const res = await orthancRest('/patients');
  if (!res.ok) throw new Error(`Orthanc GET /patients failed: ${res.status}`);
  const ids = (await res.json()) as string[];
  for (const id of ids) {
    const del = await orthancRest(`/patients/${id}`, { method: 'DELETE' });
    if (!del.ok && del.status !== 404) throw new Error(`Orthanc DELETE /patients/${id} failed: ${del.status}`);
  }
  return ids.length;
}
