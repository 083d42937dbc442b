import { DicomwebGateway, NoArchiveError, rewriteRetrieveUrls, searchParams, wadoPath } from './dicomweb.service.js';

/** The gateway's pure parts, and its answer without an archive; the HTTP path is apps/gateway/test/dicomweb.e2e-spec.ts. */
describe('DicomwebGateway without an archive', () => {
  it('answers 503 no-archive before anything else', () => {
    const none = null as unknown as never;
    const gateway = new DicomwebGateway(null, none, none, none, none, none, null);
    expect(() => gateway.requireArchive()).toThrow(NoArchiveError);
    expect(() => gateway.requireArchive()).toThrow(expect.objectContaining({ status: 503, code: 'no-archive' }));
  });
});

describe('searchParams', () => {
  it('passes keywords, tags and the reserved keys, adds what the decision needs, caps the count and the limit', () => {
    const p = searchParams({ PatientID: 'P1', '00100010': 'Doe*', limit: '10', includefield: ['StudyDate', 'Modality'], purpose: 'TREATMENT' });
    expect(p.get('PatientID')).toBe('P1');
    expect(p.get('limit')).toBe('10');
    expect(p.has('purpose')).toBe(false);
    expect(p.getAll('includefield')).toEqual(['StudyDate', 'Modality', '00100020', '00100021', '0020000D']);
    expect(searchParams({}).get('limit')).toBe('1000');
  });
  it.each([
    [{ 'Patient Name': 'x' }, 'bad-query-key'],
    [{ '../x': 'x' }, 'bad-query-key'],
    [{ PatientID: { a: 1 } }, 'bad-query-value'],
    [{ PatientID: 'x'.repeat(1025) }, 'bad-query-value'],
    [{ limit: '-1' }, 'bad-query-value'],
    [{ limit: '100000' }, 'bad-query-value'],
    [{ offset: '1e3' }, 'bad-query-value'],
    [Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`K${i}`, '1'])), 'too-many-keys'],
    [{ PatientID: Array.from({ length: 65 }, () => 'x') }, 'too-many-keys'],
  ])('refuses query %# (%s)', (query, code) => {
    expect(() => searchParams(query)).toThrow(expect.objectContaining({ code }));
  });
});

describe('wadoPath and RetrieveURLs', () => {
  it('builds the archive path from validated parts only', () => {
    expect(wadoPath({ level: 'frames', studyUid: '1.2', seriesUid: '1.3', instanceUid: '1.4', frames: '1,2' })).toBe('/studies/1.2/series/1.3/instances/1.4/frames/1,2');
    expect(wadoPath({ level: 'metadata', studyUid: '1.2' })).toBe('/studies/1.2/metadata');
  });
  it("rewrites the archive's RetrieveURLs to Custos, whatever host the archive named", () => {
    const item = { '00081190': { vr: 'UR', Value: ['http://127.0.0.1:8042/dicom-web/studies/1.2', 'http://evil.example/dicom-web/studies/1.3', 'nonsense'] } };
    expect(rewriteRetrieveUrls(item, 'http://127.0.0.1:8042/dicom-web', 'https://custos.example')['00081190']?.Value).toEqual([
      'https://custos.example/dicom-web/studies/1.2',
      'https://custos.example/dicom-web/studies/1.3',
      'https://custos.example/dicom-web',
    ]);
  });
});
