import { randomBytes } from 'node:crypto';
import type { DicomJsonObject } from './dicom-json.js';
import { syntheticInstance } from './fixtures.js';
import { metadataOfPart10 } from './metadata.js';
import { anonymizeRequest, DICOM_VERSION, referencedUidsOf } from './orthanc.js';
import { pseudonymPatientId, pseudonymUid } from './pseudonyms.js';
import { deidentifyQidoResult, QIDO_WHITELIST } from './qido.js';

const key = randomBytes(32);

describe('anonymizeRequest', () => {
  const ids = { patientId: 'MRN77', datasetId: 'ds-1', studyUid: '1.2.3.1', seriesUid: '1.2.3.2', sopInstanceUid: '1.2.3.3' };

  it('asks Orthanc for the Basic Profile 2021b with the patient characteristics kept, pseudonyms in, private tags out', () => {
    const body = anonymizeRequest(ids, key);
    const psn = pseudonymPatientId(key, 'MRN77', 'ds-1');
    expect(body).toMatchObject({
      Replace: {
        PatientID: psn,
        PatientName: psn,
        StudyInstanceUID: pseudonymUid(key, '1.2.3.1', 'ds-1'),
        SeriesInstanceUID: pseudonymUid(key, '1.2.3.2', 'ds-1'),
        SOPInstanceUID: pseudonymUid(key, '1.2.3.3', 'ds-1'),
      },
      KeepPrivateTags: false,
      Force: true,
      DicomVersion: DICOM_VERSION,
    });
    expect(body.Keep).toEqual(expect.arrayContaining(['PatientSex', 'PatientAge', 'PatientSize', 'PatientWeight', 'EthnicGroup']));
    expect(body.Replace).not.toHaveProperty('FrameOfReferenceUID');
    expect(JSON.stringify(body)).not.toContain('MRN77');
    expect(JSON.stringify(body)).not.toMatch(/"1\.2\.3\.\d"/);
    expect(anonymizeRequest({ ...ids, frameOfReferenceUid: '1.2.3.9' }, key).Replace.FrameOfReferenceUID).toBe(pseudonymUid(key, '1.2.3.9', 'ds-1'));
    expect(anonymizeRequest(ids, key)).toEqual(body); // deterministic
  });
});

describe('referencedUidsOf', () => {
  it('finds the frame of reference and the instance, series, study and frame UIDs inside sequences, never class UIDs', () => {
    const tags = {
      '0008,0016': '1.2.840.10008.5.1.4.1.1.66.4',
      '0008,0018': '1.9.1',
      '0020,0052': '1.9.2 ',
      '0008,1115': [{ '0008,114a': [{ '0008,1150': '1.2.840.10008.5.1.4.1.1.2', '0008,1155': '1.9.3' }], '0020,000e': '1.9.4' }],
      '3006,0010': [{ '0020,0052': '1.9.5', '3006,0012': [{ '0008,1150': '1.2.840.10008.3.1.2.3.1', '0008,1155': '1.9.6' }] }],
      '0008,1140': [],
      '0010,0010': 'Doe^Jane',
    };
    expect(referencedUidsOf(tags)).toEqual({
      frameOfReferenceUid: '1.9.2',
      referencedUids: {
        '0008,1115[0].0008,114A[0].0008,1155': '1.9.3',
        '0008,1115[0].0020,000E': '1.9.4',
        '3006,0010[0].0020,0052': '1.9.5',
        '3006,0010[0].3006,0012[0].0008,1155': '1.9.6',
      },
    });
    expect(referencedUidsOf(null)).toEqual({ frameOfReferenceUid: undefined, referencedUids: {} });
  });

  it('puts their pseudonyms at their paths in the request', () => {
    const body = anonymizeRequest({ patientId: 'P', datasetId: 'ds-1', studyUid: '1.1', seriesUid: '1.2', sopInstanceUid: '1.3', referencedUids: { '0008,1140[0].0008,1155': '1.9.3' } }, key);
    expect(body.Replace['0008,1140[0].0008,1155']).toBe(pseudonymUid(key, '1.9.3', 'ds-1'));
  });
});

describe('deidentifyQidoResult', () => {
  const item: DicomJsonObject = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080020': { vr: 'DA', Value: ['20240229'] },
    '00080030': { vr: 'TM', Value: ['134501'] },
    '00080050': { vr: 'SH', Value: ['ACC123'] },
    '00080061': { vr: 'CS', Value: ['CT', 'SR'] },
    '00080080': { vr: 'LO', Value: ['Saint Mercy Hospital'] },
    '00080090': { vr: 'PN', Value: [{ Alphabetic: 'House^Gregory' }] },
    '00081030': { vr: 'LO', Value: ['Chest of Jane Doe'] },
    '00081190': { vr: 'UR', Value: ['http://archive/dicom-web/studies/1.2.3.1'] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^Jane' }] },
    '00100020': { vr: 'LO', Value: ['MRN77'] },
    '00100021': { vr: 'LO', Value: ['HOSP'] },
    '00100030': { vr: 'DA', Value: ['19610317'] },
    '00100040': { vr: 'CS', Value: ['F'] },
    '00101010': { vr: 'AS', Value: ['063Y'] },
    '00101020': { vr: 'DS', Value: [1.68] },
    '00101030': { vr: 'DS', Value: [61.5] },
    '00102160': { vr: 'SH', Value: ['EUROPEAN'] },
    '00180015': { vr: 'CS', Value: ['CHEST'] },
    '0020000d': { vr: 'UI', Value: ['1.2.3.1'] },
    '00200010': { vr: 'SH', Value: ['SID9'] },
    '00201206': { vr: 'IS', Value: [2] },
    '00201208': { vr: 'IS', Value: [40] },
    '00291010': { vr: 'LO', Value: ['private Doe'] },
    '00321032': { vr: 'PN', Value: [{ Alphabetic: 'Wilson^James' }] },
    '00400275': { vr: 'SQ', Value: [{ '00400009': { vr: 'SH', Value: ['SPS-Doe'] } }] },
  };

  it('keeps only the whitelist, with PatientID the pseudonym, and drops names, dates, accession, institution, physicians', () => {
    const out = deidentifyQidoResult(item, { patientId: 'MRN77', datasetId: 'ds-1' }, key);
    expect(Object.keys(out)).toEqual(['00080005', '00080061', '00081190', '00100020', '00100040', '00101010', '00101020', '00101030', '00102160', '00180015', '0020000D', '00201206', '00201208']);
    expect(out['00100020']).toEqual({ vr: 'LO', Value: [pseudonymPatientId(key, 'MRN77', 'ds-1')] });
    expect(out['0020000D']).toEqual({ vr: 'UI', Value: ['1.2.3.1'] }); // the archive's UID, the client retrieves by it
    const text = JSON.stringify(out);
    for (const identifying of ['MRN77', 'Doe', 'Jane', '20240229', '19610317', '134501', 'ACC123', 'Mercy', 'House', 'Wilson', 'HOSP', 'SID9']) {
      expect(text).not.toContain(identifying);
    }
    expect(Object.keys(out).filter((t) => t !== '00100020' && !Object.hasOwn(QIDO_WHITELIST, t))).toEqual([]);
  });

  it('copies, never shares, the kept values, and sets the pseudonym even when the archive did not return PatientID', () => {
    const out = deidentifyQidoResult(item, { patientId: 'MRN77', datasetId: 'ds-1' }, key);
    (out['00080061'].Value as string[]).push('MR');
    expect(item['00080061'].Value).toEqual(['CT', 'SR']);
    expect(deidentifyQidoResult({ '00080060': { vr: 'CS', Value: ['CT'] } }, { patientId: 'MRN77', datasetId: 'ds-2' }, key)).toEqual({
      '00080060': { vr: 'CS', Value: ['CT'] },
      '00100020': { vr: 'LO', Value: [pseudonymPatientId(key, 'MRN77', 'ds-2')] },
    });
  });
});

describe('metadataOfPart10', () => {
  const s = syntheticInstance();

  it('gives the DICOM JSON model: PN as objects, numbers, sequences, no meta header, no dcmjs internals', () => {
    const m = metadataOfPart10(s.bytes);
    expect(m['00100010']).toEqual({ vr: 'PN', Value: [{ Alphabetic: s.identifying.PatientName }] });
    expect(m['00101020']).toEqual({ vr: 'DS', Value: [1.68] });
    expect(m['00280010']).toEqual({ vr: 'US', Value: [16] });
    expect(m['00101002']).toEqual({ vr: 'SQ', Value: [{ '00100020': { vr: 'LO', Value: [s.identifying.OtherPatientID] }, '00100021': { vr: 'LO', Value: [s.identifying.IssuerOfPatientID] } }] });
    expect(Object.keys(m).some((t) => t.startsWith('0002'))).toBe(false);
    expect(JSON.stringify(m)).not.toContain('_rawValue');
    expect(Object.keys(m)).toEqual([...Object.keys(m)].sort());
  });

  it('has no PixelData: left out, or a BulkDataURI when the caller gives one; carries the retained characteristics', () => {
    expect(metadataOfPart10(s.bytes)['7FE00010']).toBeUndefined();
    const uris: unknown[] = [];
    const m = metadataOfPart10(s.bytes, (tag, path) => {
      uris.push([tag, path]);
      return `https://gw/studies/x/bulk/${tag}`;
    });
    expect(m['7FE00010']).toEqual({ vr: 'OW', BulkDataURI: 'https://gw/studies/x/bulk/7FE00010' });
    expect(uris).toEqual([['7FE00010', []]]);
    expect(JSON.stringify(m)).not.toContain('InlineBinary');
    for (const [tag, value] of [['00100040', 'F'], ['00101010', '063Y'], ['00102160', 'EUROPEAN']] as const) expect(m[tag]).toEqual({ vr: expect.any(String), Value: [value] });
    expect(m['00101030']).toEqual({ vr: 'DS', Value: [61.5] });
  });

  it('inlines small binaries as base64 and turns empty values into absent ones', async () => {
    const dcmjs = (await import('dcmjs')).default;
    const dict = new dcmjs.data.DicomDict(dcmjs.data.DicomMessage.readFile(s.bytes.slice().buffer).meta);
    dict.dict = {
      '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
      '00080020': { vr: 'DA', Value: [''] },
      '00080090': { vr: 'PN', Value: [] },
      '00091010': { vr: 'OB', Value: [new Uint8Array([1, 2, 3, 4]).buffer] },
      '00283010': { vr: 'SQ', Value: [{ '00283006': { vr: 'OW', Value: [new Uint8Array(4096).buffer] } }] },
    };
    const m = metadataOfPart10(new Uint8Array(dict.write()), (tag, path) => `bulk/${[...path, tag].join('/')}`);
    expect(m['00080020']).toEqual({ vr: 'DA' });
    expect(m['00080090']).toEqual({ vr: 'PN' });
    expect(m['00091010']).toEqual({ vr: 'OB', InlineBinary: 'AQIDBA==' });
    expect(m['00283010']).toEqual({ vr: 'SQ', Value: [{ '00283006': { vr: 'OW', BulkDataURI: 'bulk/00283010/0/00283006' } }] });
  });
});
