import { statSync } from 'node:fs';
import { orthancFromEnv, orthancRest, orthancStow, orthancUpload } from './orthanc.js';
import { parseMultipart, readInstance, syntheticInstanceWithIds } from './dicom.js';

// The real archive started by the global setup (scripts/orthanc.sh), never a mock.
describe('Orthanc, the archive of development and tests', () => {
  const orthanc = orthancFromEnv();

  it('refuses an anonymous request, to its REST API and to its DICOMweb root', async () => {
    expect((await fetch(`${orthanc.url}/patients`)).status).toBe(401);
    expect((await fetch(`${orthanc.dicomweb}/studies`)).status).toBe(401);
    expect((await fetch(`${orthanc.url}/system`, { headers: { Authorization: `Basic ${Buffer.from('custos:wrong').toString('base64')}` } })).status).toBe(401);
  });

  it('keeps its credentials in a file only its owner reads', () => {
    expect(statSync(orthanc.credentialsFile).mode & 0o777).toBe(0o600);
  });

  it('stores a synthetic instance by STOW-RS, finds it by QIDO-RS and returns its bytes by WADO-RS', async () => {
    const instance = syntheticInstanceWithIds({ patientId: `MRN-${Date.now()}`, patientName: 'Stow^Test', sex: 'F', age: '041Y' });

    const stored = await orthancStow([instance.bytes]);
    expect(stored.status).toBe(200);

    const found = await orthancRest(`/dicom-web/studies?StudyInstanceUID=${instance.studyUid}`, { headers: { Accept: 'application/dicom+json' } });
    expect(found.status).toBe(200);
    const studies = (await found.json()) as Record<string, { Value?: unknown[] }>[];
    expect(studies).toHaveLength(1);
    expect(studies[0]['00100020'].Value).toEqual([instance.patientId]);

    const retrieved = await orthancRest(
      `/dicom-web/studies/${instance.studyUid}/series/${instance.seriesUid}/instances/${instance.sopInstanceUid}`,
      { headers: { Accept: 'multipart/related; type="application/dicom"' } },
    );
    expect(retrieved.status).toBe(200);
    const parts = parseMultipart(new Uint8Array(await retrieved.arrayBuffer()), retrieved.headers.get('content-type') ?? '');
    expect(parts).toHaveLength(1);
    const dataset = readInstance(parts[0].body);
    expect(dataset.PatientID).toBe(instance.patientId);
    expect(dataset.SOPInstanceUID).toBe(instance.sopInstanceUid);
    expect(Buffer.compare(parts[0].body, instance.bytes)).toBe(0);
  });

  it('takes a big synthetic instance through its own REST upload', async () => {
    const instance = syntheticInstanceWithIds({ pixelBytes: 512 * 1024 });
    expect(instance.bytes.length).toBeGreaterThan(512 * 1024);
    const stored = await orthancUpload(instance.bytes);
    expect(stored.Status).toBe('Success');
    const tags = (await (await orthancRest(`/instances/${stored.ID}/simplified-tags`)).json()) as Record<string, string>;
    expect(tags.SOPInstanceUID).toBe(instance.sopInstanceUid);
    expect(tags.PatientID).toBe(instance.patientId);
  });
});
