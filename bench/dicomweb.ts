/**
 * DICOMweb through Custos (issue 19 §4), each figure beside the same work done straight to the
 * archive (Orthanc) in the same run, on the same machine. Not a test: nothing asserts a timing.
 *
 *   STOW-RS          instances/s through Custos vs straight to Orthanc (other studies, same shape)
 *   WADO-RS          whole studies at 8 and 32 concurrent clients: MB/s and studies/s, clinician
 *                    (TREATMENT, identified) through Custos vs the same requests to Orthanc (basic auth)
 *   de-identified    researcher (RESEARCH, consent granted) through Custos vs Orthanc's own
 *                    POST /instances/{id}/anonymize per instance, same request body, same concurrency
 *   QIDO-RS          p50/p99 of ?PatientID= and ?StudyInstanceUID= searches, through Custos vs direct
 *   2 GB study       gateway RSS (a child process, /proc/<pid>/status every 100 ms) while one client
 *                    drains one retrieve of it: before, max during, after, bytes streamed
 *
 * Orthanc: DICOMWEB_UPSTREAM etc. when set (reused as is), else scripts/orthanc.sh on its own
 * port (BENCH_ORTHANC_PORT, default 8052), reset first, so the tests' archive is not touched.
 * The gateway: dist/apps/gateway/src/main.js in embedded mode (PGlite in a temp DATA_DIR), dev
 * issuer on, archive feed off (DICOMWEB_FEED_POLL_MS=0: every bench study is stored through
 * Custos, so nothing needs the feed, and its polling would not compete with the direct runs).
 *
 * Sizes (env): BENCH_DICOMWEB_STUDIES (8), BENCH_DICOMWEB_INSTANCES (200 per study),
 * BENCH_DICOMWEB_PIXEL_BYTES (512 KiB), BENCH_DICOMWEB_RETRIEVES (32 per concurrency level),
 * BENCH_DICOMWEB_LEVELS (8,32), BENCH_DICOMWEB_DEID_LEVELS (8), BENCH_DICOMWEB_QIDO (500),
 * BENCH_DICOMWEB_BIG_INSTANCES (1000; 0 skips the RSS figure), BENCH_DICOMWEB_BIG_PIXEL_BYTES (2 MiB).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import dcmjs from 'dcmjs';
import { anonymizeRequest } from '../libs/dicomweb/src/deid/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const { DicomDict, DicomMetaDictionary } = dcmjs.data;
const MB = 1e6;

interface Archive {
  dicomweb: string;
  url: string;
  auth: string;
  credentialsFile: string;
  port: string;
  /** Started (and reset) by the bench, on its own port. */
  started: boolean;
}

/** A bare pass-through proxy (the raw limit of one more Node hop): GET only, the archive's answer piped back as it comes. */
const BARE_PROXY = `
const http = require('node:http');
const up = new URL(process.env.BARE_UPSTREAM);
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const server = http.createServer((req, res) => {
  const out = http.request({ host: up.hostname, port: up.port, path: up.pathname + req.url, method: 'GET', agent, headers: { accept: req.headers.accept || '*/*', authorization: process.env.BARE_AUTH } }, (a) => {
    res.writeHead(a.statusCode, { 'content-type': a.headers['content-type'] || 'application/octet-stream' });
    a.pipe(res);
  });
  out.on('error', () => { res.statusCode = 502; res.end(); });
  out.end();
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

export interface DicomwebFigure {
  what: string;
  custos: number;
  direct: number;
  unit: string;
  ratio: number;
  detail?: Record<string, number | string>;
}

// ------------------------------------------------------------------ synthetic DICOM

const uid = () => `2.25.${BigInt(`0x${randomBytes(16).toString('hex')}`).toString()}`;

/** A CT instance (Explicit VR LE), ~pixelBytes of pixel data shared by every instance (contents do not matter here). */
function instance(patientId: string, studyUid: string, seriesUid: string, n: number, pixels: ArrayBuffer, side: number): Buffer {
  const sop = uid();
  const ct = '1.2.840.10008.5.1.4.1.1.2';
  const dataset = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: ct,
    SOPInstanceUID: sop,
    StudyDate: '20240102',
    StudyTime: '101500',
    AccessionNumber: 'ACC-BENCH',
    Modality: 'CT',
    InstitutionName: 'Bench General Hospital',
    ReferringPhysicianName: 'Referrer^Rita',
    PatientName: `Bench^${patientId}`,
    PatientID: patientId,
    PatientBirthDate: '19700101',
    PatientSex: 'F',
    EthnicGroup: 'X1',
    BodyPartExamined: 'CHEST',
    StudyInstanceUID: studyUid,
    SeriesInstanceUID: seriesUid,
    StudyID: 'S-BENCH',
    SeriesNumber: 1,
    InstanceNumber: n,
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: side,
    Columns: side,
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    RescaleIntercept: -1024,
    RescaleSlope: 1,
    PixelData: [pixels],
    _vrMap: { PixelData: 'OW' },
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ct,
    MediaStorageSOPInstanceUID: sop,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '2.25.187613902563914862771011843542914427470',
    ImplementationVersionName: 'CUSTOS_BENCH',
  };
  const file = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  file.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(file.write());
}

function pixelsOf(bytes: number): { pixels: ArrayBuffer; side: number } {
  const side = Math.ceil(Math.sqrt(bytes / 2));
  const px = new Uint16Array(side * side);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + (i >> 9)) & 0x0fff;
  return { pixels: px.buffer, side };
}

interface Study {
  patientId: string;
  studyUid: string;
  instances: number;
}

/** Multipart bodies of `count` instances each (STOW-RS), for one study, `chunk` instances per body. */
function studyBodies(study: Study, from: number, count: number, px: { pixels: ArrayBuffer; side: number }, seriesUid: string): { body: Buffer; contentType: string } {
  const boundary = `bench-${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (let n = from; n < from + count; n++) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), instance(study.patientId, study.studyUid, seriesUid, n + 1, px.pixels, px.side), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; type="application/dicom"; boundary=${boundary}` };
}

// ------------------------------------------------------------------ HTTP

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

interface Answer {
  status: number;
  bytes: number;
  ms: number;
  body?: Buffer;
  contentType?: string;
}

/** One request; the body drained and counted (kept only when asked). */
function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | string; keep?: boolean; onStart?: () => void } = {}): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolveAnswer, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent }, (res) => {
      init.onStart?.();
      let bytes = 0;
      const kept: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (init.keep) kept.push(c);
      });
      res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t0, ...(init.keep ? { body: Buffer.concat(kept) } : {}), ...(res.headers['content-type'] ? { contentType: res.headers['content-type'] } : {}) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

async function ok(url: string, init: Parameters<typeof call>[1] = {}): Promise<Answer> {
  const a = await call(url, { ...init, keep: true });
  if (a.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url.replace(/\?.*/, '')} → ${a.status}: ${a.body?.toString('utf8').slice(0, 300)}`);
  return a;
}

/** `count` jobs over `concurrency` workers; the wall time in seconds. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

// ------------------------------------------------------------------ processes

function archiveFromEnv(): Archive {
  if (process.env.DICOMWEB_UPSTREAM) {
    const credentialsFile = process.env.DICOMWEB_UPSTREAM_CREDENTIALS_FILE ?? '';
    return {
      dicomweb: process.env.DICOMWEB_UPSTREAM,
      url: process.env.ORTHANC_URL ?? process.env.DICOMWEB_UPSTREAM.replace(/\/[^/]*$/, ''),
      auth: process.env.ORTHANC_AUTH ?? readFileSync(credentialsFile, 'utf8').trim(),
      credentialsFile,
      port: new URL(process.env.DICOMWEB_UPSTREAM).port,
      started: false,
    };
  }
  const port = process.env.BENCH_ORTHANC_PORT ?? '8052';
  const script = join(ROOT, 'scripts/orthanc.sh');
  const env = { ...process.env, ORTHANC_HTTP_PORT: port };
  execFileSync('bash', [script, 'reset'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('bash', [script, 'start'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const vars = Object.fromEntries(
    execFileSync('bash', [script, 'env'], { env, encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  return { dicomweb: vars.DICOMWEB_UPSTREAM as string, url: vars.ORTHANC_URL as string, auth: vars.ORTHANC_AUTH as string, credentialsFile: vars.DICOMWEB_UPSTREAM_CREDENTIALS_FILE as string, port, started: true };
}

function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function waitHealthy(base: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await call(`${base}/health`)).status === 200) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the gateway did not become healthy');
}

// ------------------------------------------------------------------ the figures

export async function dicomwebFigures(): Promise<{ figures: DicomwebFigure[]; rss?: Record<string, number>; json: string }> {
  const STUDIES = Number(process.env.BENCH_DICOMWEB_STUDIES ?? 8);
  const INSTANCES = Number(process.env.BENCH_DICOMWEB_INSTANCES ?? 200);
  const PIXEL_BYTES = Number(process.env.BENCH_DICOMWEB_PIXEL_BYTES ?? 512 * 1024);
  const RETRIEVES = Number(process.env.BENCH_DICOMWEB_RETRIEVES ?? 32);
  const LEVELS = (process.env.BENCH_DICOMWEB_LEVELS ?? '8,32').split(',').map(Number);
  const DEID_LEVELS = (process.env.BENCH_DICOMWEB_DEID_LEVELS ?? '8').split(',').filter(Boolean).map(Number);
  const QIDO = Number(process.env.BENCH_DICOMWEB_QIDO ?? 500);
  const BIG = Number(process.env.BENCH_DICOMWEB_BIG_INSTANCES ?? 1000);
  const BIG_PIXEL_BYTES = Number(process.env.BENCH_DICOMWEB_BIG_PIXEL_BYTES ?? 2 * 1024 * 1024);
  const started = new Date();
  const loadBefore = loadavg();
  const figures: DicomwebFigure[] = [];
  const figure = (what: string, custos: number, direct: number, unit: string, detail?: Record<string, number | string>) => {
    const f: DicomwebFigure = { what, custos, direct, unit, ratio: custos / direct, ...(detail ? { detail } : {}) };
    figures.push(f);
    const n = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)).padStart(8);
    console.log(`${what.padEnd(58)} Custos ${n(custos)} ${unit.padEnd(11)} direct ${n(direct)}   ratio ${f.ratio.toFixed(2)}`);
  };

  const archive = archiveFromEnv();
  const basic = `Basic ${Buffer.from(archive.auth).toString('base64')}`;
  const data = mkdtempSync(join(tmpdir(), 'custos-bench-dicomweb-'));
  const port = Number(process.env.BENCH_DICOMWEB_GATEWAY_PORT ?? 3975);
  const base = `http://127.0.0.1:${port}`;
  const gateway = spawn(process.execPath, [join(ROOT, 'dist/apps/gateway/src/main.js')], {
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      DATA_DIR: data,
      PORT: String(port),
      AUTH_DEV_ISSUER: 'true',
      DICOMWEB_UPSTREAM: archive.dicomweb,
      DICOMWEB_UPSTREAM_CREDENTIALS_FILE: archive.credentialsFile,
      ORTHANC_URL: archive.url,
      DICOMWEB_FEED_POLL_MS: '0',
      DICOMWEB_TIMEOUT_MS: '120000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = gateway.pid as number;
  let rss: Record<string, number> | undefined;
  try {
    await waitHealthy(base);
    const rssAtStart = rssBytes(pid);
    const token = async (sub: string, roles: string[], patientId?: string) =>
      (JSON.parse((await ok(`${base}/v1/dev/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sub, roles, ...(patientId ? { patient_id: patientId } : {}) }) })).body!.toString()) as { token: string }).token;
    const steward = await token('bench-steward', ['data-steward']);
    const clinician = await token('bench-dr', ['clinician']);
    const researcher = await token('bench-res', ['researcher']);
    const asCustos = (t: string, purpose?: string) => ({ authorization: `Bearer ${t}`, ...(purpose ? { 'x-purpose-of-use': purpose } : {}) });
    const asArchive = { authorization: basic };
    const px = pixelsOf(PIXEL_BYTES);
    const makeStudies = (tag: string) => Array.from({ length: STUDIES }, (_, i) => ({ patientId: `BENCH-${tag}-${i}-${randomBytes(3).toString('hex')}`, studyUid: uid(), instances: INSTANCES }));

    // --------------------------------------------------------- STOW-RS, one study per request, one request at a time
    console.log(`\nDICOMweb through Custos — ${STUDIES} studies × ${INSTANCES} instances × ${(PIXEL_BYTES / 1024).toFixed(0)} KiB, archive ${archive.dicomweb}`);
    const stow = async (studies: Study[], url: string, headers: Record<string, string>) => {
      let seconds = 0;
      let bytes = 0;
      for (const s of studies) {
        const { body, contentType } = studyBodies(s, 0, s.instances, px, uid()); // made outside the timing
        bytes += body.length;
        const t0 = performance.now();
        await ok(url, { method: 'POST', headers: { ...headers, 'content-type': contentType, accept: 'application/dicom+json' }, body });
        seconds += (performance.now() - t0) / 1000;
      }
      return { seconds, bytes };
    };
    const mine = makeStudies('C');
    const viaCustos = await stow(mine, `${base}/dicom-web/studies`, asCustos(steward));
    const direct = makeStudies('D');
    const viaArchive = await stow(direct, `${archive.dicomweb}/studies`, asArchive);
    const stowed = STUDIES * INSTANCES;
    figure('STOW-RS, one study per request', stowed / viaCustos.seconds, stowed / viaArchive.seconds, 'instances/s', { custosMBps: viaCustos.bytes / MB / viaCustos.seconds, directMBps: viaArchive.bytes / MB / viaArchive.seconds, instances: stowed });

    // --------------------------------------------------------- correctness, once: the same parts through Custos as from the archive
    const partsOf = (a: Answer) => {
      const boundary = /boundary=("?)([^";]+)\1/.exec(a.contentType ?? '')?.[2] ?? '';
      const chunks = a.body!.toString('latin1').split(`--${boundary}`).slice(1, -1);
      return chunks.map((c) => createHash('sha256').update(Buffer.from(c.slice(c.indexOf('\r\n\r\n') + 4, -2), 'latin1')).digest('hex')).sort();
    };
    const probe = mine[0] as Study;
    const a = await ok(`${base}/dicom-web/studies/${probe.studyUid}`, { headers: asCustos(clinician, 'TREATMENT') });
    const b = await ok(`${archive.dicomweb}/studies/${probe.studyUid}`, { headers: asArchive });
    const same = JSON.stringify(partsOf(a)) === JSON.stringify(partsOf(b)) && partsOf(a).length === INSTANCES;
    console.log(`identified retrieve through Custos: ${partsOf(a).length} parts, ${same ? 'byte-identical to the archive\'s' : 'DIFFERENT from the archive\'s'}`);

    // --------------------------------------------------------- WADO-RS, identified (clinician, TREATMENT)
    const retrieve = async (concurrency: number, url: (s: Study) => string, headers: Record<string, string>) => {
      let bytes = 0;
      let failed = 0;
      const seconds = await pool(RETRIEVES, concurrency, async (i) => {
        const r = await call(url(mine[i % mine.length] as Study), { headers });
        if (r.status !== 200) failed += 1;
        bytes += r.bytes;
      });
      return { seconds, bytes, failed };
    };
    // The raw limit of any proxy here: a bare Node pass-through (node:http piping to the archive, nothing decided,
    // nothing recorded), in its own process like the gateway, so that every byte takes the same extra hop.
    const bare = spawn(process.execPath, ['-e', BARE_PROXY], { env: { ...process.env, BARE_UPSTREAM: archive.dicomweb, BARE_AUTH: asArchive.authorization ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const barePort = await new Promise<number>((resolve, reject) => {
      bare.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      bare.once('exit', () => reject(new Error('the bare proxy did not start')));
    });
    try {
      for (const c of LEVELS) {
        // Direct first, then the bare proxy, then Custos: all read studies the page cache already holds (the probe above warmed one).
        const d = await retrieve(c, (s) => `${archive.dicomweb}/studies/${s.studyUid}`, asArchive);
        const p = await retrieve(c, (s) => `http://127.0.0.1:${barePort}/studies/${s.studyUid}`, {});
        const g = await retrieve(c, (s) => `${base}/dicom-web/studies/${s.studyUid}`, asCustos(clinician, 'TREATMENT'));
        figure(`WADO-RS study, bare Node pass-through, ${c} clients: MB/s`, p.bytes / MB / p.seconds, d.bytes / MB / d.seconds, 'MB/s', { failed: p.failed });
        figure(`WADO-RS study, identified, ${c} clients: MB/s`, g.bytes / MB / g.seconds, d.bytes / MB / d.seconds, 'MB/s', { failedCustos: g.failed, failedDirect: d.failed, retrieves: RETRIEVES, custosToBareProxy: Number((g.bytes / g.seconds / (p.bytes / p.seconds)).toFixed(2)) });
        figure(`WADO-RS study, identified, ${c} clients: studies/s`, RETRIEVES / g.seconds, RETRIEVES / d.seconds, 'studies/s');
      }
    } finally {
      bare.kill();
    }

    // --------------------------------------------------------- de-identified (researcher, RESEARCH, consent granted)
    for (const s of mine) {
      const patient = await token(`bench-pat-${s.patientId}`, ['patient'], s.patientId);
      await ok(`${base}/v1/patients/${s.patientId}/consents/RESEARCH`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${patient}` }, body: JSON.stringify({ status: 'granted' }) });
    }
    // Orthanc's ids of the instances of each study, looked up before the timing.
    const orthancIds = new Map<string, Array<{ id: string; seriesUid: string; sopInstanceUid: string }>>();
    for (const s of mine) {
      const found = JSON.parse((await ok(`${archive.url}/tools/lookup`, { method: 'POST', headers: asArchive, body: s.studyUid })).body!.toString()) as Array<{ ID: string; Type: string }>;
      const studyId = found.find((f) => f.Type === 'Study')?.ID as string;
      const list = JSON.parse((await ok(`${archive.url}/studies/${studyId}/instances`, { headers: asArchive })).body!.toString()) as Array<{ ID: string; MainDicomTags: { SOPInstanceUID: string }; ParentSeries: string }>;
      const series = JSON.parse((await ok(`${archive.url}/studies/${studyId}/series`, { headers: asArchive })).body!.toString()) as Array<{ ID: string; MainDicomTags: { SeriesInstanceUID: string } }>;
      const seriesUid = new Map(series.map((x) => [x.ID, x.MainDicomTags.SeriesInstanceUID]));
      orthancIds.set(s.studyUid, list.map((x) => ({ id: x.ID, seriesUid: seriesUid.get(x.ParentSeries) as string, sopInstanceUid: x.MainDicomTags.SOPInstanceUID })));
    }
    const key = randomBytes(32);
    for (const c of DEID_LEVELS) {
      const count = Math.max(c, STUDIES);
      let dBytes = 0;
      let dFailed = 0;
      const dSeconds = await pool(count, c, async (i) => {
        const s = mine[i % mine.length] as Study;
        for (const inst of orthancIds.get(s.studyUid) ?? []) {
          const body = JSON.stringify(anonymizeRequest({ patientId: s.patientId, datasetId: 'pacs', studyUid: s.studyUid, seriesUid: inst.seriesUid, sopInstanceUid: inst.sopInstanceUid }, key));
          const r = await call(`${archive.url}/instances/${inst.id}/anonymize`, { method: 'POST', headers: { ...asArchive, 'content-type': 'application/json' }, body });
          if (r.status !== 200) dFailed += 1;
          dBytes += r.bytes;
        }
      });
      let gBytes = 0;
      let gFailed = 0;
      const gSeconds = await pool(count, c, async (i) => {
        const r = await call(`${base}/dicom-web/studies/${(mine[i % mine.length] as Study).studyUid}`, { headers: asCustos(researcher, 'RESEARCH') });
        if (r.status !== 200) gFailed += 1;
        gBytes += r.bytes;
      });
      figure(`de-identified study, ${c} clients: MB/s (direct: anonymize)`, gBytes / MB / gSeconds, dBytes / MB / dSeconds, 'MB/s', { failedCustos: gFailed, failedDirect: dFailed, studies: count });
      figure(`de-identified study, ${c} clients: studies/s`, count / gSeconds, count / dSeconds, 'studies/s');
    }

    // --------------------------------------------------------- QIDO-RS, concurrency 8, half ?PatientID=, half ?StudyInstanceUID=
    const qido = async (url: (i: number) => string, headers: Record<string, string>) => {
      const ms: number[] = [];
      let wrong = 0;
      const seconds = await pool(QIDO, 8, async (i) => {
        const r = await call(url(i), { headers: { ...headers, accept: 'application/dicom+json' } });
        if (r.status !== 200) wrong += 1;
        ms.push(r.ms);
      });
      ms.sort((x, y) => x - y);
      return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), perSecond: QIDO / seconds, wrong };
    };
    const query = (i: number) => {
      const s = mine[i % mine.length] as Study;
      return i % 2 === 0 ? `PatientID=${s.patientId}` : `StudyInstanceUID=${s.studyUid}`;
    };
    const qd = await qido((i) => `${archive.dicomweb}/studies?${query(i)}`, asArchive);
    const qg = await qido((i) => `${base}/dicom-web/studies?${query(i)}`, asCustos(clinician, 'TREATMENT'));
    figure(`QIDO-RS studies, 8 clients: p50 ms`, qg.p50, qd.p50, 'ms', { searches: QIDO, notOkCustos: qg.wrong, notOkDirect: qd.wrong });
    figure(`QIDO-RS studies, 8 clients: p99 ms`, qg.p99, qd.p99, 'ms');
    figure(`QIDO-RS studies, 8 clients: searches/s`, qg.perSecond, qd.perSecond, 'searches/s');

    // --------------------------------------------------------- gateway RSS while streaming one big study
    if (BIG > 0) {
      const big: Study = { patientId: `BENCH-BIG-${randomBytes(3).toString('hex')}`, studyUid: uid(), instances: BIG };
      const bigPx = pixelsOf(BIG_PIXEL_BYTES);
      const perChunk = Math.max(1, Math.floor((100 * MB) / BIG_PIXEL_BYTES));
      const series = uid();
      const t0 = performance.now();
      // Stored straight into the archive (STOW-RS to Orthanc, ≤ 100 MB a request: the STOW figure above is Custos's),
      // then registered by Custos from the archive's metadata on its first read (the path a study the feed has not
      // brought yet takes), outside the measured retrieve.
      for (let from = 0; from < BIG; from += perChunk) {
        const { body, contentType } = studyBodies(big, from, Math.min(perChunk, BIG - from), bigPx, series);
        await ok(`${archive.dicomweb}/studies/${big.studyUid}`, { method: 'POST', headers: { ...asArchive, 'content-type': contentType, accept: 'application/dicom+json' }, body });
      }
      const stored = (performance.now() - t0) / 1000;
      const registration = await ok(`${base}/dicom-web/studies/${big.studyUid}/metadata`, { headers: asCustos(clinician, 'TREATMENT') });
      console.log(`big study stored in the archive: ${BIG} instances in chunks of ≤ ${perChunk} (${stored.toFixed(0)} s); registered by Custos on its first read (metadata, ${(registration.ms / 1000).toFixed(1)} s)`);
      // Straight from the archive first: the raw limit, and the study in the page cache for both.
      const directBig = await call(`${archive.dicomweb}/studies/${big.studyUid}`, { headers: asArchive });
      await new Promise((r) => setTimeout(r, 2000));
      const samples: number[] = [];
      const before = rssBytes(pid);
      let firstByteMs = 0;
      const t1 = performance.now();
      const sampler = setInterval(() => samples.push(rssBytes(pid)), 100);
      const through = await call(`${base}/dicom-web/studies/${big.studyUid}`, { headers: asCustos(clinician, 'TREATMENT'), onStart: () => (firstByteMs = performance.now() - t1) });
      clearInterval(sampler);
      await new Promise((r) => setTimeout(r, 2000));
      const after = rssBytes(pid);
      if (through.bytes !== directBig.bytes || through.status !== 200) console.log(`big study: Custos streamed ${through.bytes} bytes (status ${through.status}), the archive ${directBig.bytes}`);
      rss = {
        instances: BIG,
        registrationSeconds: registration.ms / 1000,
        atStartMiB: rssAtStart / 2 ** 20,
        beforeMiB: before / 2 ** 20,
        maxDuringMiB: Math.max(before, ...samples) / 2 ** 20,
        afterMiB: after / 2 ** 20,
        samples: samples.length,
        bytesStreamed: through.bytes,
        status: through.status,
        seconds: through.ms / 1000,
        firstByteSeconds: firstByteMs / 1000,
        directBytes: directBig.bytes,
        directSeconds: directBig.ms / 1000,
      };
      console.log(
        `gateway RSS streaming a ${(through.bytes / 2 ** 30).toFixed(2)} GiB study (${BIG} × ${(BIG_PIXEL_BYTES / 1024).toFixed(0)} KiB): at start ${rss.atStartMiB!.toFixed(0)} MiB, before ${rss.beforeMiB!.toFixed(0)} MiB, max ${rss.maxDuringMiB!.toFixed(0)} MiB during (${samples.length} samples / 100 ms), after ${rss.afterMiB!.toFixed(0)} MiB`,
      );
      figure('2 GB study, one client: MB/s', through.bytes / MB / (through.ms / 1000), directBig.bytes / MB / (directBig.ms / 1000), 'MB/s', { bytesCustos: through.bytes, bytesDirect: directBig.bytes, status: through.status });
    }
  } finally {
    gateway.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    rmSync(data, { recursive: true, force: true });
    // The bench's own archive holds a few GB: stopped and emptied (BENCH_DICOMWEB_KEEP_ARCHIVE=1 keeps it running).
    if (archive.started && process.env.BENCH_DICOMWEB_KEEP_ARCHIVE !== '1') execFileSync('bash', [join(ROOT, 'scripts/orthanc.sh'), 'reset'], { env: { ...process.env, ORTHANC_HTTP_PORT: archive.port }, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadBefore, loadAfter: loadavg() };
  const sizes = { studies: STUDIES, instances: INSTANCES, pixelBytes: PIXEL_BYTES, retrieves: RETRIEVES, levels: LEVELS, deidLevels: DEID_LEVELS, qido: QIDO, bigInstances: BIG, bigPixelBytes: BIG_PIXEL_BYTES };
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const json = `${started.toISOString().slice(0, 16).replace(':', '')}-dicomweb.json`;
  writeFileSync(join(dir, json), `${JSON.stringify({ at: started.toISOString(), machine, sizes, figures, rss }, null, 2)}\n`);
  console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${machine.loadAfter.map((l) => l.toFixed(2)).join(' ')}; written: bench/results/${json}`);
  return { figures, ...(rss ? { rss } : {}), json };
}

// `node dist/bench/dicomweb.js`: this section alone.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  dicomwebFigures().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
