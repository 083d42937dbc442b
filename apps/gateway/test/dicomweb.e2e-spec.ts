import type { INestApplication } from '@nestjs/common';
import { api } from 'dicomweb-client';
import { createServer, get, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CommandBus } from '@nestjs/cqrs';
import { ArchiveFeed, DicomArchive, DicomwebGateway } from '@custos/dicomweb';
import { RegisterDicomInstanceCommand } from '@custos/imaging';
import { createLogger } from '@custos/platform';
import request from 'supertest';
import XHR from 'xhr2';
import { verifyDecisions } from '@custos/contexts';
import { Database, verifyChain } from '@custos/event-store';
import { multipartDicom, newUid, orthancFromEnv, orthancRest, orthancUpload, parseMultipart, principals, readInstance, syntheticInstanceWithIds, syntheticStudy } from '@custos/testing';
import { bootEmbedded, tokenFor } from './helpers.js';

// dicomweb-client speaks XMLHttpRequest (it is OHIF's client): xhr2 gives Node one.
(globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = XHR;

const archive = orthancFromEnv();
const ARCHIVE_ENV = { DICOMWEB_UPSTREAM: archive.dicomweb, DICOMWEB_UPSTREAM_CREDENTIALS_FILE: archive.credentialsFile, ORTHANC_URL: archive.url, DICOMWEB_FEED_POLL_MS: '200' };

let app: INestApplication;
let base: string;
const tokens: Record<string, string> = {};

/** The part of dicomweb-client these tests call (its declarations mark optional options as required). */
interface DicomwebClient {
  storeInstances(o: { datasets: ArrayBuffer[] }): Promise<unknown>;
  searchForStudies(o: { queryParams: Record<string, string> }): Promise<unknown[]>;
  retrieveStudy(o: { studyInstanceUID: string }): Promise<ArrayBuffer[]>;
  retrieveStudyMetadata(o: { studyInstanceUID: string }): Promise<unknown[]>;
}

function client(token: string, purpose: string): DicomwebClient {
  const options = { url: `${base}/dicom-web`, headers: { authorization: `Bearer ${token}`, 'x-purpose-of-use': purpose } };
  return new api.DICOMwebClient(options as unknown as ConstructorParameters<typeof api.DICOMwebClient>[0]) as unknown as DicomwebClient;
}

/** dicomweb-client writes every refusal and every empty answer to the console; where the test expects one, it stays quiet. */
async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const { error, warn } = console;
  console.error = console.warn = () => undefined;
  try {
    return await run();
  } finally {
    Object.assign(console, { error, warn });
  }
}

const bytesOf = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b));

describe('DICOMweb through Custos, with an unmodified DICOMweb client (dicomweb-client) and the real archive', () => {
beforeAll(async () => {
    app = await bootEmbedded(ARCHIVE_ENV);
    await app.listen(0, '127.0.0.1');
    base = `${await app.getUrl()}`.replace('[::1]', '127.0.0.1');
    tokens.steward = await tokenFor(app, principals.steward());
    tokens.clinician = await tokenFor(app, principals.clinician());
    tokens.researcher = await tokenFor(app, principals.researcher());
  });
  afterAll(async () => {
    await app.close();
  });
  

  it('stores a study, a clinician searches and retrieves it for treatment (bytes as the archive holds them), a researcher is refused until the patient grants research and then gets de-identified instances; all in the trail, the log verifies', async () => {
    const study = syntheticStudy({ patientName: 'Doe^Jane', sex: 'F', birthDate: '19800214', ethnicGroup: 'X1' }, { series: 1, instancesPerSeries: 2 });
    const patientId = study.patientId;
    tokens.patient = await tokenFor(app, principals.patient({ sub: `pat-${patientId}`, patientId }));

    await client(tokens.steward as string, 'OPERATIONS').storeInstances({ datasets: study.instances.map((i) => i.bytes.buffer.slice(i.bytes.byteOffset, i.bytes.byteOffset + i.bytes.byteLength) as ArrayBuffer) });

    const found = await client(tokens.clinician as string, 'TREAT').searchForStudies({ queryParams: { PatientID: patientId } });
    expect(found).toHaveLength(1);
    expect((found[0] as Record<string, { Value: string[] }>)['0020000D']?.Value[0]).toBe(study.studyUid);

    const retrieved = (await client(tokens.clinician as string, 'TREATMENT').retrieveStudy({ studyInstanceUID: study.studyUid })) as ArrayBuffer[];
    expect(retrieved).toHaveLength(2);
    const direct = await orthancRest(`${archive.dicomweb}/studies/${study.studyUid}`, { headers: { accept: 'multipart/related; type="application/dicom"' } });
    const directParts = parseMultipart(Buffer.from(await direct.arrayBuffer()), direct.headers.get('content-type') as string).map((p) => p.body);
    expect(retrieved.map(bytesOf).sort(Buffer.compare)).toEqual(directParts.sort(Buffer.compare));

    const researcher = client(tokens.researcher as string, 'RESEARCH');
    // dicomweb-client logs every failed request to the console: the refusal is expected here.
    await quietly(() => expect(researcher.retrieveStudy({ studyInstanceUID: study.studyUid })).rejects.toMatchObject({ status: 403 }));
    expect(await quietly(() => researcher.searchForStudies({ queryParams: { StudyInstanceUID: study.studyUid } }))).toEqual([]);

    await request(app.getHttpServer()).put(`/v1/patients/${patientId}/consents/RESEARCH`).set('authorization', `Bearer ${tokens.patient}`).send({ status: 'granted' }).expect(200);
    const deidentified = (await researcher.retrieveStudy({ studyInstanceUID: study.studyUid })) as ArrayBuffer[];
    expect(deidentified).toHaveLength(2);
    for (const part of deidentified) {
      const ds = readInstance(bytesOf(part));
      expect(ds.PatientID).toMatch(/^PSN-/);
      expect(JSON.stringify(ds)).not.toContain('Doe');
      expect(ds.PatientSex).toBe('F');
      expect(ds.StudyInstanceUID).not.toBe(study.studyUid);
    }
    const metadata = await researcher.retrieveStudyMetadata({ studyInstanceUID: study.studyUid });
    expect(metadata).toHaveLength(2);
    expect(JSON.stringify(metadata)).not.toContain('Doe');
    expect(JSON.stringify(metadata)).not.toContain(patientId);
    expect(JSON.stringify(metadata)).not.toContain('19800214');
    const first = study.instances[0] as { seriesUid: string; sopInstanceUid: string };
    const frames = await request(app.getHttpServer())
      .get(`/dicom-web/studies/${study.studyUid}/series/${first.seriesUid}/instances/${first.sopInstanceUid}/frames/1`)
      .set('authorization', `Bearer ${tokens.researcher}`)
      .set('x-purpose-of-use', 'RESEARCH')
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
    expect(frames.status).toBe(200);
    expect(String(frames.headers['content-type'])).toMatch(/^multipart\/related/);
    expect(frames.body.toString('latin1')).not.toContain(archive.dicomweb);
    expect(frames.body.toString('latin1')).toContain(`${base}/dicom-web/studies/`);
    // What neither Custos nor the archive can make in the media type asked for is 406, not an outage.
    const identifiedJson = await request(app.getHttpServer()).get(`/dicom-web/studies/${study.studyUid}?purpose=TREATMENT`).set('authorization', `Bearer ${tokens.clinician}`).set('accept', 'application/dicom+json');
    expect([identifiedJson.status, identifiedJson.body.code]).toEqual([406, 'not-acceptable']);
    const deidentifiedPng = await request(app.getHttpServer()).get(`/dicom-web/studies/${study.studyUid}?purpose=RESEARCH`).set('authorization', `Bearer ${tokens.researcher}`).set('accept', 'image/png');
    expect([deidentifiedPng.status, deidentifiedPng.body.code]).toEqual([406, 'not-acceptable']);
    const listed = await researcher.searchForStudies({ queryParams: { StudyInstanceUID: study.studyUid } });
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain('Doe');

    const trail = await request(app.getHttpServer()).get(`/v1/patients/${patientId}/access-trail`).set('authorization', `Bearer ${tokens.patient}`).expect(200);
    const items = trail.body.items as Array<{ actor: { id: string }; decision: string; purpose: string }>;
    expect(items.filter((i) => i.actor.id === 'dr-1' && i.decision === 'PERMIT').length).toBeGreaterThanOrEqual(2);
    expect(items.some((i) => i.actor.id === 'res-1' && i.decision === 'DENY')).toBe(true);
    expect(items.some((i) => i.actor.id === 'res-1' && i.decision === 'PERMIT' && i.purpose === 'RESEARCH')).toBe(true);

    const db = app.get(Database);
    expect(await verifyChain(db)).toMatchObject({ ok: true });
    expect(await verifyDecisions(db)).toMatchObject({ ok: true });
    const ended = await db.query<{ data: { outcome: string; instances: number; bytes: number } }>(`SELECT data FROM custos_events WHERE type = 'DicomTransferEnded' AND stream_id = $1`, [`access-${patientId}`]);
    expect(ended.map((e) => e.data.outcome)).toContain('complete');
    expect(ended.some((e) => e.data.instances === 2 && e.data.bytes > 0)).toBe(true);
  });

  it('registers an instance that reaches the archive directly (its changes feed), within seconds', async () => {
    const inst = syntheticInstanceWithIds();
    await orthancUpload(inst.bytes);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await request(app.getHttpServer()).get(`/v1/images/${inst.sopInstanceUid}?purpose=TREATMENT`).set('authorization', `Bearer ${tokens.clinician}`);
      if (res.status === 200) {
        expect(res.body).toMatchObject({ imageId: inst.sopInstanceUid, patientId: inst.patientId });
        break;
      }
      if (Date.now() > deadline) throw new Error(`not registered: ${res.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Read again from where it stopped (as after a restart), and by a second reader of the same feed: nothing twice.
    const db = app.get(Database);
    const again = new ArchiveFeed(app.get(DicomArchive), app.get(DicomwebGateway), db, createLogger('silent'));
    await again.poll();
    await db.execute('UPDATE custos_dicomweb_feed SET position = GREATEST(position - 50, 0)');
    await again.poll();
    const registrations = await db.query(`SELECT 1 FROM custos_events WHERE type = 'ImageRegistered' AND stream_id = $1`, [`image-${inst.sopInstanceUid}`]);
    expect(registrations).toHaveLength(1);
  });

  it('refuses what a hostile client sends with problem+json, never a 500, and stores nothing of it', async () => {
    const auth = { authorization: `Bearer ${tokens.clinician}` };
    const http = () => request(app.getHttpServer());
    expect((await http().get('/dicom-web/studies').set(auth)).body.code).toBe('purpose-required');
    expect((await http().get('/dicom-web/studies?purpose=SHOPPING').set(auth)).body.code).toBe('bad-purpose');
    expect((await http().get('/dicom-web/studies/1.2.x?purpose=TREATMENT').set(auth)).body.code).toBe('bad-uid');
    expect((await http().get('/dicom-web/studies/..%2F..%2Fpatients?purpose=TREATMENT').set(auth)).status).toBe(400);
    const many = Array.from({ length: 10_000 }, (_, i) => `k${i}=1`).join('&');
    const huge = await http().get(`/dicom-web/studies?purpose=TREATMENT&${many}`).set(auth);
    expect([huge.status, huge.body.code]).toEqual([431, 'headers-too-large']);
    const hundred = Array.from({ length: 100 }, (_, i) => `PatientID=${i}`).join('&');
    expect((await http().get(`/dicom-web/studies?purpose=TREATMENT&${hundred}`).set(auth)).body.code).toBe('too-many-keys');
    expect((await http().get('/dicom-web/studies?purpose=TREATMENT&PatientName[a]=x').set(auth)).status).toBe(400);
    expect((await http().get(`/dicom-web/studies/1.2.3.4.5.6.7.8.9/series/1.2/instances/1.3/frames/0?purpose=TREATMENT`).set(auth)).body.code).toBe('bad-frames');
    const steward = { authorization: `Bearer ${tokens.steward}` };
    const stow = (body: Buffer, type: string) => http().post('/dicom-web/studies').set(steward).set('content-type', type).send(body);
    expect((await stow(Buffer.from('hello'), 'multipart/related; type="application/dicom"; boundary=abc')).body.code).toBe('bad-multipart');
    const notDicom = multipartDicom([Buffer.from('this is not DICOM at all, not even close; '.repeat(10))]);
    expect((await stow(notDicom.body, notDicom.contentType)).body.code).toBe('not-dicom');
    const good = syntheticInstanceWithIds();
    const mixed = multipartDicom([good.bytes, Buffer.from('x'.repeat(300))]);
    expect((await stow(mixed.body, mixed.contentType)).body.code).toBe('not-dicom');
    const lookup = await orthancRest('/tools/lookup', { method: 'POST', body: good.sopInstanceUid });
    expect(await lookup.json()).toEqual([]);
    expect((await stow(Buffer.from('{}'), 'application/json')).status).toBe(415);
    // Without a valid token a store is refused before its body is read: 1 KB of a declared 100 MB gets the answer.
    for (const authorization of [undefined, 'Bearer not-a-token']) {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(`${base}/dicom-web/studies`);
        const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'multipart/related; type="application/dicom"; boundary=b', 'content-length': String(100 * 1024 * 1024), ...(authorization ? { authorization } : {}) } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => {
            req.destroy(); // the rest of the 100 MB is never sent
            resolve({ status: res.statusCode ?? 0, body });
          });
        });
        req.on('error', reject);
        req.write(Buffer.alloc(1024));
        setTimeout(() => reject(new Error('the gateway waited for the body')), 10_000).unref();
      });
      expect(answer.status).toBe(401);
    }
    // A clinician may read but not store.
    const one = multipartDicom([syntheticInstanceWithIds().bytes]);
    expect((await http().post('/dicom-web/studies').set(auth).set('content-type', one.contentType).send(one.body)).status).toBe(403);
  });

  it('records a stream the client cut as aborted, with what went out before', async () => {
    {
      const url = base;
      const { steward, clinician } = tokens as { steward: string; clinician: string };
      const big = syntheticStudy({ pixelBytes: 2 * 1024 * 1024 }, { instancesPerSeries: 4 });
      const m = multipartDicom(big.instances.map((i) => i.bytes));
      await request(app.getHttpServer()).post('/dicom-web/studies').set('authorization', `Bearer ${steward}`).set('content-type', m.contentType).send(m.body).expect(200);
      await new Promise<void>((resolve, reject) => {
        const req = get(`${url}/dicom-web/studies/${big.studyUid}?purpose=TREATMENT`, { headers: { authorization: `Bearer ${clinician}`, 'x-test': 'cut' } }, (res) => {
          expect(res.statusCode).toBe(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        setTimeout(() => reject(new Error('no data')), 10_000);
      });
      const db = app.get(Database);
      const deadline = Date.now() + 10_000;
      let ended: Array<{ data: { outcome: string; bytes: number } }> = [];
      while (Date.now() < deadline && ended.length === 0) {
        ended = await db.query(`SELECT data FROM custos_events WHERE type = 'DicomTransferEnded' AND stream_id = $1`, [`access-${big.patientId}`]);
        if (ended.length === 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ended.map((e) => e.data.outcome)).toEqual(['aborted']);
      expect(ended[0]?.data.bytes).toBeLessThan(8 * 1024 * 1024);
    }
  });

  it('answers the same 404 for a study that does not exist and for one a patient may not know of', async () => {
    const other = syntheticInstanceWithIds();
    const m = multipartDicom([other.bytes]);
    await request(app.getHttpServer()).post('/dicom-web/studies').set('authorization', `Bearer ${tokens.steward}`).set('content-type', m.contentType).send(m.body).expect(200);
    const nosy = await tokenFor(app, principals.patient({ sub: 'nosy', patientId: 'someone-else' }));
    const a = await request(app.getHttpServer()).get(`/dicom-web/studies/${other.studyUid}?purpose=TREATMENT`).set('authorization', `Bearer ${nosy}`);
    const b = await request(app.getHttpServer()).get(`/dicom-web/studies/1.2.3.999999?purpose=TREATMENT`).set('authorization', `Bearer ${nosy}`);
    expect([a.status, a.body.code]).toEqual([404, 'unknown-resource']);
    expect([b.status, b.body.code]).toEqual([404, 'unknown-resource']);
  });
});

describe('DICOMweb under attack (findings of the outside attack, kept as tests)', () => {
  let app: INestApplication;
  const t: Record<string, string> = {};
  const http = () => request(app.getHttpServer());
  const stowAs = (token: string, instances: Uint8Array[]) => {
    const m = multipartDicom(instances);
    return http().post('/dicom-web/studies').set('authorization', `Bearer ${token}`).set('content-type', m.contentType).send(m.body);
  };

  beforeAll(async () => {
    app = await bootEmbedded({ ...ARCHIVE_ENV, DICOMWEB_FEED_POLL_MS: '0' });
    t.steward = await tokenFor(app, principals.steward());
    t.clinician = await tokenFor(app, principals.clinician());
    t.researcher = await tokenFor(app, principals.researcher());
  });
  afterAll(async () => {
    await app.close();
  });

  it("does not release another patient's (or another issuer's) instance filed under a bound study, nor list it in a search", async () => {
    const own = syntheticInstanceWithIds({ patientName: 'Own^Patient' });
    await stowAs(t.steward as string, [own.bytes]).expect(200);
    // Straight into the archive, under the same study: one of another patient, one of the same number at another issuer.
    await orthancUpload(syntheticInstanceWithIds({ studyUid: own.studyUid, patientId: `${own.patientId}-other`, patientName: 'Bob^Victim' }).bytes);
    await orthancUpload(syntheticInstanceWithIds({ studyUid: own.studyUid, patientId: own.patientId, issuerOfPatientId: 'OTHERHOSP', patientName: 'Foreign^Two' }).bytes);
    const retrieve = await http().get(`/dicom-web/studies/${own.studyUid}?purpose=TREATMENT`).set('authorization', `Bearer ${t.clinician}`);
    expect([retrieve.status, retrieve.body.code]).toEqual([409, 'study-patient-mismatch']);
    expect(JSON.stringify(retrieve.body)).not.toMatch(/Victim|Foreign/);
    const search = await http().get(`/dicom-web/studies/${own.studyUid}/instances?purpose=TREATMENT&includefield=all`).set('authorization', `Bearer ${t.clinician}`);
    expect(search.status).toBe(200);
    expect(search.text).toContain('Own^Patient');
    expect(search.text).not.toMatch(/Victim|Foreign/);
    // The instance of the bound patient alone is still released.
    const alone = await http().get(`/dicom-web/studies/${own.studyUid}/series/${own.seriesUid}/instances/${own.sopInstanceUid}?purpose=TREATMENT`).set('authorization', `Bearer ${t.clinician}`);
    expect(alone.status).toBe(200);
  });

  it('refuses a research search on names, MRNs, birth dates or accession numbers (a pseudonym is never tied to a person)', async () => {
    for (const q of ['PatientID=x', 'PatientName=Doe*', 'PatientBirthDate=19800214', 'AccessionNumber=1', '00100020=x']) {
      const res = await http().get(`/dicom-web/studies?purpose=RESEARCH&${q}`).set('authorization', `Bearer ${t.researcher}`);
      expect([res.status, res.body.code]).toEqual([400, 'query-key-not-allowed']);
    }
    expect((await http().get('/dicom-web/studies?purpose=RESEARCH&Modality=CT&limit=5').set('authorization', `Bearer ${t.researcher}`)).status).toBeLessThan(300);
  });

  it('refuses without naming the patient or their consent', async () => {
    const own = syntheticInstanceWithIds();
    await stowAs(t.steward as string, [own.bytes]).expect(200);
    const res = await http().get(`/dicom-web/studies/${own.studyUid}?purpose=TREATMENT`).set('authorization', `Bearer ${t.researcher}`);
    expect([res.status, res.body.code]).toEqual([403, 'access-denied']);
    expect(JSON.stringify(res.body)).not.toContain(own.patientId);
  });

  it('binds a study before storing it: of two stores of one study for two patients at once, one is refused and nothing of it is stored', async () => {
    const studyUid = newUid();
    const a = syntheticInstanceWithIds({ studyUid });
    const b = syntheticInstanceWithIds({ studyUid });
    const [ra, rb] = await Promise.all([stowAs(t.steward as string, [a.bytes]), stowAs(t.steward as string, [b.bytes])]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    const loser = ra.status === 409 ? a : b;
    expect(await (await orthancRest('/tools/lookup', { method: 'POST', body: loser.sopInstanceUid })).json()).toEqual([]);
  });

  it('refuses a SOP Instance UID registered for another patient, and registers nothing the archive reads differently (a header with two PatientIDs)', async () => {
    const first = syntheticInstanceWithIds();
    await stowAs(t.steward as string, [first.bytes]).expect(200);
    const again = syntheticInstanceWithIds({ sopInstanceUid: first.sopInstanceUid });
    expect((await stowAs(t.steward as string, [again.bytes])).body.code).toBe('duplicate-instance');

    const x = syntheticInstanceWithIds();
    const buf = Buffer.from(x.bytes);
    const tag = Buffer.from([0x10, 0x00, 0x20, 0x00, 0x4c, 0x4f]); // (0010,0020) LO
    const at = buf.indexOf(tag, 132);
    const len = buf.readUInt16LE(at + 6);
    const second = Buffer.alloc(14);
    tag.copy(second, 0);
    second.writeUInt16LE(6, 6);
    second.write('OTHER1', 8, 'latin1');
    const crafted = Buffer.concat([buf.subarray(0, at + 8 + len), second, buf.subarray(at + 8 + len)]);
    const res = await stowAs(t.steward as string, [crafted]);
    expect(res.status).not.toBe(200);
    const image = await http().get(`/v1/images/${x.sopInstanceUid}?purpose=TREATMENT`).set('authorization', `Bearer ${t.clinician}`);
    expect(image.status).toBe(404);
  });

  it('does not answer 200 when the archive stored nothing', async () => {
    const x = syntheticInstanceWithIds();
    const truncated = Buffer.from(x.bytes).subarray(0, x.bytes.length - 4000);
    const res = await stowAs(t.steward as string, [truncated]);
    expect(res.status).not.toBe(200);
    expect(res.status).toBeLessThan(500);
  });
});

describe('DICOMweb when the client or the archive fails', () => {
  it('answers 503 when the archive is down and 504 when it is too slow, releases nothing, and records the attempt', async () => {
    // An archive that accepts connections and never answers (slow), then one that is gone (down).
    const hanging: Server = createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', () => r()));
    const port = (hanging.address() as AddressInfo).port;
    const faulty = await bootEmbedded({ DICOMWEB_UPSTREAM: `http://127.0.0.1:${port}/dicom-web`, DICOMWEB_TIMEOUT_MS: '300', DICOMWEB_FEED_POLL_MS: '0', DICOMWEB_MAX_STOW_BYTES: '2048' });
    try {
      const clinician = await tokenFor(faulty, principals.clinician());
      const inst = syntheticInstanceWithIds();
      // A study Custos knows (registered before the archive failed): the decision is made and recorded, then the archive fails.
      await faulty.get(CommandBus).execute(
        new RegisterDicomInstanceCommand(
          { imageId: inst.sopInstanceUid, patientId: inst.patientId, modality: 'CT', bodySite: 'CHEST', datasetId: 'pacs', demographics: { sex: 'O', birthYear: 1970, ethnicity: 'unknown' }, dicom: { studyUid: inst.studyUid, seriesUid: inst.seriesUid, source: 'stow' } },
          { actor: { id: 'test', roles: ['system'] }, correlationId: 'faults' },
        ),
      );
      const slow = await request(faulty.getHttpServer()).get(`/dicom-web/studies/${inst.studyUid}?purpose=TREATMENT`).set('authorization', `Bearer ${clinician}`);
      expect([slow.status, slow.body.code]).toEqual([504, 'archive-timeout']);
      hanging.closeAllConnections();
      await new Promise((r) => hanging.close(r));
      const down = await request(faulty.getHttpServer()).get(`/dicom-web/studies/${inst.studyUid}?purpose=TREATMENT`).set('authorization', `Bearer ${clinician}`);
      expect([down.status, down.body.code]).toEqual([503, 'archive-unavailable']);
      const unknown = await request(faulty.getHttpServer()).get(`/dicom-web/studies/1.2.3.4.777?purpose=TREATMENT`).set('authorization', `Bearer ${clinician}`);
      expect([unknown.status, unknown.body.code]).toEqual([503, 'archive-unavailable']);
      const steward = await tokenFor(faulty, principals.steward());
      const big = multipartDicom([syntheticInstanceWithIds().bytes]);
      const tooBig = await request(faulty.getHttpServer()).post('/dicom-web/studies').set('authorization', `Bearer ${steward}`).set('content-type', big.contentType).send(big.body);
      expect([tooBig.status, tooBig.body.code]).toEqual([413, 'payload-too-large']);
      const search = await request(faulty.getHttpServer()).get('/dicom-web/studies?purpose=TREATMENT').set('authorization', `Bearer ${clinician}`);
      expect([search.status, search.body.code]).toEqual([503, 'archive-unavailable']);

      const db = faulty.get(Database);
      const decided = await db.query<{ data: { decision: string } }>(`SELECT data FROM custos_events WHERE type = 'AccessDecided' AND stream_id = $1`, [`access-${inst.patientId}`]);
      const ended = await db.query<{ data: { outcome: string; bytes: number } }>(`SELECT data FROM custos_events WHERE type = 'DicomTransferEnded' AND stream_id = $1`, [`access-${inst.patientId}`]);
      expect(decided).toHaveLength(2);
      expect(ended.map((e) => [e.data.outcome, e.data.bytes])).toEqual([
        ['archive-failed', 0],
        ['archive-failed', 0],
      ]);
      const refused = await db.query<{ data: { rule: string } }>(`SELECT data FROM custos_events WHERE type = 'RouteAccessDenied' AND data->>'subject' = 'DicomStudy'`);
      expect(refused.map((r) => r.data.rule)).toEqual(['archive-unavailable']);
    } finally {
      hanging.closeAllConnections();
      await faulty.close();
    }
  });
});
