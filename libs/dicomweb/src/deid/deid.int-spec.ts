/**
 * De-identification against the real archive (Orthanc 1.10 from scripts/orthanc.sh, never a
 * mock): synthetic instances full of identifying attributes are stored, de-identified through
 * anonymizeInstance, and every element of the result (meta header, data set, sequences) is read
 * back with dcmjs.
 *
 * The archive: ORTHANC_URL and ORTHANC_AUTH, as Jest's global setup sets them (the project's
 * Orthanc, TEST_ORTHANC_PORT, default 8042); outside of it, `scripts/orthanc.sh start` then `env`.
 * Every instance has fresh UIDs and patient id: other workers may use the same archive.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import dcmjs, { type DicomJsonDataset } from 'dcmjs';
import { randomUid, syntheticInstance, type SyntheticInstance } from './fixtures.js';
import { anonymizeInstance, ArchiveUnavailableError, orthancInstanceId, type DeidInstanceIds, type OrthancConnection } from './orthanc.js';
import { metadataOfPart10 } from './metadata.js';
import { pseudonymPatientId, pseudonymUid } from './pseudonyms.js';

const { DicomMessage } = dcmjs.data;

function archive(): OrthancConnection {
  if (process.env.ORTHANC_URL && process.env.ORTHANC_AUTH) return { url: process.env.ORTHANC_URL, auth: process.env.ORTHANC_AUTH };
  const script = resolve(import.meta.dirname, '../../../../scripts/orthanc.sh');
  execFileSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const env = Object.fromEntries(
    execFileSync('bash', [script, 'env'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { url: env.ORTHANC_URL, auth: env.ORTHANC_AUTH };
}

async function store(orthanc: OrthancConnection, bytes: Uint8Array): Promise<void> {
  const res = await fetch(`${orthanc.url}/instances`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(orthanc.auth).toString('base64')}`, 'content-type': 'application/dicom' },
    body: bytes,
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

/** Every string of a dcmjs data set, recursively (sequences, PN components, numbers as text). */
function* strings(dataset: DicomJsonDataset, path = ''): Generator<[string, string]> {
  for (const [tag, element] of Object.entries(dataset)) {
    for (const value of element.Value ?? []) {
      if (element.vr === 'SQ') yield* strings(value as DicomJsonDataset, `${path}${tag}/`);
      else if (typeof value === 'string' || typeof value === 'number') yield [`${path}${tag}`, String(value)];
      else if (value && typeof value === 'object' && !(value instanceof ArrayBuffer)) {
        for (const part of Object.values(value)) if (typeof part === 'string') yield [`${path}${tag}`, part];
      }
    }
  }
}

function parse(bytes: Uint8Array) {
  const file = DicomMessage.readFile(bytes.slice().buffer);
  return { meta: file.meta, dict: file.dict };
}

const first = (dataset: DicomJsonDataset, tag: string) => dataset[tag]?.Value?.[0];

describe('de-identification through the archive (Orthanc)', () => {
  const orthanc = archive();
  const key = randomBytes(32);
  const datasetId = `ds-${randomBytes(4).toString('hex')}`;
  const patientId = `MRN${randomBytes(4).toString('hex')}`;
  const studyUid = randomUid();
  const seriesUid = randomUid();
  let a: SyntheticInstance;
  let b: SyntheticInstance;
  const idsOf = (s: SyntheticInstance): DeidInstanceIds => ({ patientId: s.ids.patientId, datasetId, studyUid: s.ids.studyUid, seriesUid: s.ids.seriesUid, sopInstanceUid: s.ids.sopInstanceUid });

  beforeAll(async () => {
    a = syntheticInstance({ patientId, studyUid, seriesUid });
    b = syntheticInstance({ patientId, studyUid, seriesUid, frameOfReferenceUid: a.ids.frameOfReferenceUid, references: [a.ids] });
    await store(orthanc, a.bytes);
    await store(orthanc, b.bytes);
  });

  it('finds no identifying value in any element, nor anywhere in the bytes', async () => {
    const bytes = await anonymizeInstance(orthanc, idsOf(a), key);
    expect(bytes).not.toBeNull();
    const { meta, dict } = parse(bytes!);
    const forbidden = [
      ...Object.values(a.identifying),
      a.ids.patientId,
      a.ids.studyUid,
      a.ids.seriesUid,
      a.ids.sopInstanceUid,
      a.ids.frameOfReferenceUid,
    ];
    // The walk does see them in the original (it is not blind to PN objects or sequences).
    const original = parse(a.bytes);
    const seen = [...strings(original.meta), ...strings(original.dict)].filter(([, s]) => forbidden.some((f) => s.toUpperCase().includes(f.toUpperCase())));
    expect(seen.map(([p]) => p)).toEqual(expect.arrayContaining(['00100010', '00100020', '00101002/00100020', '00080090', '00200052', '00091010']));
    const found = [...strings(meta), ...strings(dict)].filter(([, s]) => forbidden.some((f) => s.toUpperCase().includes(f.toUpperCase())));
    expect(found).toEqual([]);
    // Every value carries the instance's random tag (or is a date): none of them, in any encoding
    // dcmjs might have skipped (private tags, unknown VRs), is in the file's bytes.
    const text = Buffer.from(bytes!).toString('latin1').toUpperCase();
    expect(forbidden.filter((f) => text.includes(f.toUpperCase()))).toEqual([]);
    // The names are gone even in part (the family name alone, in a PN of another form).
    expect(text.includes(a.identifying.PatientName.split('^')[0].toUpperCase())).toBe(false);
  });

  it('finds none of the UIDs of the referenced instance in the referencing one', async () => {
    const bytes = (await anonymizeInstance(orthanc, idsOf(b), key))!;
    const text = Buffer.from(bytes).toString('latin1');
    for (const uid of [a.ids.sopInstanceUid, a.ids.seriesUid, a.ids.studyUid, b.ids.sopInstanceUid, a.ids.frameOfReferenceUid]) expect(text).not.toContain(uid);
  });

  it('puts the pseudonyms in: PatientID and PatientName, the study, series and instance UIDs, the meta header', async () => {
    const { meta, dict } = parse((await anonymizeInstance(orthanc, idsOf(a), key))!);
    const psn = pseudonymPatientId(key, patientId, datasetId);
    expect(first(dict, '00100020')).toBe(psn);
    expect(first(dict, '00100010')).toEqual({ Alphabetic: psn });
    expect(first(dict, '0020000D')).toBe(pseudonymUid(key, studyUid, datasetId));
    expect(first(dict, '0020000E')).toBe(pseudonymUid(key, seriesUid, datasetId));
    expect(first(dict, '00080018')).toBe(pseudonymUid(key, a.ids.sopInstanceUid, datasetId));
    expect(first(meta, '00020003')).toBe(pseudonymUid(key, a.ids.sopInstanceUid, datasetId));
    expect(first(dict, '00120062')).toBe('YES'); // Patient Identity Removed
    const methods = (dict['00120064']?.Value ?? []) as DicomJsonDataset[];
    expect(methods.map((m) => first(m, '00080100'))).toEqual(['113100', '113108']);
  });

  it('keeps UIDs consistent: two instances of one study share the pseudo study and series UIDs, a second call gives the same UIDs', async () => {
    const da1 = parse((await anonymizeInstance(orthanc, idsOf(a), key))!).dict;
    const db = parse((await anonymizeInstance(orthanc, idsOf(b), key))!).dict;
    const da2 = parse((await anonymizeInstance(orthanc, idsOf(a), key))!).dict;
    for (const tag of ['0020000D', '0020000E', '00100020']) {
      expect(first(db, tag)).toBe(first(da1, tag));
      expect(first(da2, tag)).toBe(first(da1, tag));
    }
    expect(first(da2, '00080018')).toBe(first(da1, '00080018'));
    // The frame of reference the two instances share is one pseudonymous frame of reference.
    expect(first(da1, '00200052')).toBe(pseudonymUid(key, a.ids.frameOfReferenceUid, datasetId));
    expect(first(db, '00200052')).toBe(first(da1, '00200052'));
    // b references a (as a segmentation references its images): the reference still resolves.
    expect(first(first(db, '00081140') as DicomJsonDataset, '00081155')).toBe(first(da1, '00080018'));
    expect(first(first(db, '00081140') as DicomJsonDataset, '00081150')).toBe('1.2.840.10008.5.1.4.1.1.7'); // class UIDs are not touched
    expect(first(first(db, '00081115') as DicomJsonDataset, '0020000E')).toBe(first(da1, '0020000E'));
    expect(first(db, '00080018')).not.toBe(first(da1, '00080018'));
    // Another dataset: other pseudonyms for the same patient and study.
    const other = parse((await anonymizeInstance(orthanc, { ...idsOf(a), datasetId: `${datasetId}-other` }, key))!).dict;
    expect(first(other, '00100020')).not.toBe(first(da1, '00100020'));
    expect(first(other, '0020000D')).not.toBe(first(da1, '0020000D'));
  });

  it('retains the patient characteristics and keeps the pixel data byte for byte', async () => {
    const bytes = (await anonymizeInstance(orthanc, idsOf(a), key))!;
    const { dict } = parse(bytes);
    expect(first(dict, '00100040')).toBe('F');
    expect(first(dict, '00101010')).toBe('063Y');
    expect(Number(first(dict, '00101020'))).toBe(1.68);
    expect(Number(first(dict, '00101030'))).toBe(61.5);
    expect(first(dict, '00102160')).toBe('EUROPEAN');
    expect(first(dict, '001021A0')).toBe('NO');
    expect(dict['00081030']).toBeUndefined(); // StudyDescription (free text with the name) removed
    expect(Object.keys(dict).filter((t) => parseInt(t.slice(0, 4), 16) % 2 === 1)).toEqual([]); // no private tags
    const pixels = new Uint8Array(dict['7FE00010'].Value![0] as ArrayBuffer);
    expect(Buffer.from(pixels).equals(Buffer.from(a.pixels))).toBe(true);

    // The gateway's metadata of the de-identified instance: no pixel data, the retained ones.
    const metadata = metadataOfPart10(bytes, (tag) => `bulk/${tag}`);
    expect(metadata['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: 'bulk/7FE00010' });
    expect(metadata['00100040']).toEqual({ vr: 'CS', Value: ['F'] });
    expect(metadata['00100020']).toEqual({ vr: 'LO', Value: [pseudonymPatientId(key, patientId, datasetId)] });
    expect(JSON.stringify(metadata)).not.toContain(patientId);
  });

  it('answers null for an instance the archive does not have', async () => {
    const unknown = randomUid();
    expect(await orthancInstanceId(orthanc, unknown)).toBeNull();
    expect(await anonymizeInstance(orthanc, { ...idsOf(a), sopInstanceUid: unknown }, key)).toBeNull();
  });

  it('throws ArchiveUnavailableError (503) when the archive is down or refuses the credentials', async () => {
    const down = { url: 'http://127.0.0.1:9', auth: orthanc.auth };
    const err = await anonymizeInstance(down, idsOf(a), key).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveUnavailableError);
    expect(err).toMatchObject({ status: 503, code: 'archive-unavailable' });
    const refused = await orthancInstanceId({ url: orthanc.url, auth: 'custos:wrong' }, a.ids.sopInstanceUid).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 503, code: 'archive-unavailable' });
  });
});
