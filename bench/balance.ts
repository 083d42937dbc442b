/**
 * A balance report over BENCH_BALANCE_PATIENTS (100,000) patients on PostgreSQL, for
 * `npm run bench` (BENCH_ONLY=balance alone: a fresh database, no Kafka): the whole report path
 * (patientContributions: the read models, the sealed registrations, one data key per patient;
 * then trueCells and releaseCells), p50/p99 over BENCH_BALANCE_RUNS (10) runs. Beside it, the
 * raw floor: one SELECT of the same registrations alone, one of the same key rows alone, and
 * node:crypto AES-256-GCM decrypts/s and key unwraps/s.
 *
 * Seeding writes what Custos writes (one data key per patient wrapped A256KW + A256GCM under the
 * KEK, one sealed ImageRegistered per image through the event store, the dataset's read model),
 * but wraps and seals with node:crypto directly: node-jose would take minutes for 100,000 keys.
 * One wrapped key is checked with node-jose before anything is timed.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { type AppendRequest, canonicalJson, type Database, EventStore, type Json } from '@custos/event-store';
import { cryptoRandom, groupDomains, patientContributions, releaseCells, releaseParts, trueCells } from '@custos/fairness';
import { IMAGE_PERSONAL, imageStreamId } from '@custos/imaging';
import { type KekRing, KeyService, openKek, PayloadCipher, SEALED } from '@custos/keys';
import jose from 'node-jose';

type Report = (what: string, count: number, seconds: number, raw?: { what: string; perSecond: number }) => number;

const GROUPS = ['asian', 'black', 'hispanic', 'white', 'other', 'unknown'];
const LABELS = ['nodule', 'effusion', 'fracture', 'mass', 'opacity'];
const DATASET = 'ds-bench';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function ms(work: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function kekBytes(ring: KekRing): Buffer {
  return Buffer.from((ring.active.toJSON(true) as { k: string }).k, 'base64url');
}

/** What KeyService's wrapUnder writes (A256KW + A256GCM under the KEK), with node:crypto. */
function wrapFast(kek: Buffer, kekKid: string, raw: Buffer): string {
  const header = Buffer.from(JSON.stringify({ alg: 'A256KW', enc: 'A256GCM', kid: kekKid, cty: 'custos-key' })).toString('base64url');
  const cek = randomBytes(32);
  const kw = createCipheriv('id-aes256-wrap', kek, Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  const encryptedKey = Buffer.concat([kw.update(cek), kw.final()]);
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(raw), gcm.final()]);
  return [header, encryptedKey.toString('base64url'), iv.toString('base64url'), ciphertext.toString('base64url'), gcm.getAuthTag().toString('base64url')].join('.');
}

/** What PayloadCipher.seal writes (dir + A256GCM under the data key). */
function sealFast(raw: Buffer, kid: string, personal: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid, fields: Object.keys(personal), cty: 'custos-personal+json' })).toString('base64url');
  const iv = randomBytes(12);
  const gcm = createCipheriv('aes-256-gcm', raw, iv);
  gcm.setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(Buffer.from(canonicalJson(personal as Json), 'utf8')), gcm.final()]);
  return `${header}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${gcm.getAuthTag().toString('base64url')}`;
}

async function seed(db: Database, ring: KekRing, patients: number): Promise<{ streams: string[]; kids: string[]; sample: { raw: Buffer; jwe: string } }> {
  const store = new EventStore(db);
  const kek = kekBytes(ring);
  const streams: string[] = [];
  const kids: string[] = [];
  let sample: { raw: Buffer; jwe: string } | undefined;
  const CHUNK = 1_000;
  for (let from = 0; from < patients; from += CHUNK) {
    const keyRows: unknown[][] = [];
    const imageRows: unknown[][] = [];
    const annotationRows: unknown[][] = [];
    const batch: AppendRequest[] = [];
    for (let p = from; p < Math.min(patients, from + CHUNK); p++) {
      const owner = `${DATASET}-p${p}`;
      const kid = `dk-${randomUUID()}`;
      const raw = randomBytes(32);
      const wrapped = wrapFast(kek, ring.active.kid, raw);
      sample ??= { raw, jwe: wrapped };
      keyRows.push([kid, owner, wrapped, ring.active.kid]);
      kids.push(kid);
      const imageId = `${DATASET}-img-${p}`;
      const demographics = { sex: p % 3 === 0 ? 'M' : 'F', birthYear: 1930 + (p % 90), ethnicity: GROUPS[p % GROUPS.length] };
      batch.push({
        streamId: imageStreamId(imageId),
        expectedVersion: 'no-stream',
        events: [
          {
            type: 'ImageRegistered',
            schemaVersion: 1,
            data: { imageId, patientId: owner, modality: 'CT', bodySite: 'chest', datasetId: DATASET, [SEALED]: sealFast(raw, kid, { demographics }) },
            metadata: { actor: { id: 'stew-1', roles: ['data-steward'] }, correlationId: 'bench', patientId: owner },
            occurredAt: new Date(),
          },
        ],
      });
      streams.push(imageStreamId(imageId));
      imageRows.push([imageId, DATASET, owner, p + 1]);
      annotationRows.push([`${DATASET}-a${p}`, imageId, DATASET, owner, LABELS[p % LABELS.length], p + 1]);
    }
    const insert = async (table: string, columns: string, rows: unknown[][], extra = '') => {
      const width = (rows[0] as unknown[]).length;
      await db.query(`INSERT INTO ${table} ${columns} VALUES ${rows.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')}${extra})`).join(', ')}`, rows.flat());
    };
    await insert('custos_data_keys', '(kid, owner, wrapped, kek_kid)', keyRows);
    for (let i = 0; i < batch.length; i += 250) await store.appendBatch(batch.slice(i, i + 250));
    await insert('custos_rm_dataset_images', '(image_id, dataset_id, patient_id, entered_seq)', imageRows);
    await insert(
      'custos_rm_annotations',
      '(annotation_id, image_id, dataset_id, patient_id, label, last_seq, status, version, deleted, created_by, created_at, updated_at)',
      annotationRows,
      ", 'approved', 1, false, 'ann-1', now(), now()",
    );
  }
  await db.query('ANALYZE');
  return { streams, kids, sample: sample as { raw: Buffer; jwe: string } };
}

export async function balanceFigures(db: Database, report: Report, results: Array<{ what: string; perSecond: number }>): Promise<void> {
  const PATIENTS = Number(process.env.BENCH_BALANCE_PATIENTS ?? 100_000);
  const RUNS = Number(process.env.BENCH_BALANCE_RUNS ?? 10);
  const ring = await openKek({ kind: 'memory' }, () => undefined);
  let t0 = performance.now();
  const { streams, kids, sample } = await seed(db, ring, PATIENTS);
  console.log(`balance: seeded ${PATIENTS.toLocaleString('en')} patients (one key, one sealed registration, one approved annotation each) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // What was seeded is what Custos writes: node-jose unwraps the key, and opens a registration with it.
  const viaJose = (await jose.JWE.createDecrypt(ring.all).decrypt(sample.jwe)).plaintext;
  if (!viaJose.equals(sample.raw)) throw new Error('the seeded key does not unwrap under node-jose');

  // The raw floor: the same rows read alone, and the cryptography alone.
  const rawEvents = await ms(() => db.query(`SELECT data FROM custos_events WHERE stream_id = ANY($1) AND type = 'ImageRegistered'`, [streams]));
  const rawKeys = await ms(() => db.query('SELECT kid, wrapped FROM custos_data_keys WHERE kid = ANY($1)', [kids]));
  const part = sealFast(sample.raw, 'dk-x', { demographics: { sex: 'F', birthYear: 1970, ethnicity: 'white' } }).split('.');
  const DECRYPTS = 100_000;
  const gcmMs = await ms(async () => {
    for (let i = 0; i < DECRYPTS; i++) {
      const d = createDecipheriv('aes-256-gcm', sample.raw, Buffer.from(part[2] as string, 'base64url'));
      d.setAAD(Buffer.from(part[0] as string, 'ascii'));
      d.setAuthTag(Buffer.from(part[4] as string, 'base64url'));
      Buffer.concat([d.update(Buffer.from(part[3] as string, 'base64url')), d.final()]);
    }
  });
  const gcm = report('raw node:crypto AES-256-GCM decrypts (one part)', DECRYPTS, gcmMs / 1000);
  const keyService = new KeyService(db, ring);
  const UNWRAPS = Math.min(PATIENTS, 20_000);
  const unwrapMs = await ms(() => keyService.dataKeys(kids.slice(0, UNWRAPS)));
  report('KeyService.dataKeys (query + node:crypto unwrap)', UNWRAPS, unwrapMs / 1000, { what: 'raw GCM', perSecond: gcm });

  // The whole report path, as the balance handler runs it: one process, one key service.
  const cipher = new PayloadCipher(keyService, IMAGE_PERSONAL);
  const domains = groupDomains(GROUPS);
  const by = ['sex', 'ageBand', 'ethnicity'] as const;
  const clips = { images: 20, annotations: 50 };
  const parts = releaseParts(1_000_000, clips);
  const times: number[] = [];
  const reading: number[] = [];
  let cells = 0;
  for (let run = 0; run < RUNS; run++) {
    t0 = performance.now();
    const patients = await patientContributions(db, cipher, DATASET, 2026, GROUPS);
    const read = performance.now() - t0;
    if (patients.length !== PATIENTS) throw new Error(`the report saw ${patients.length} patients, not ${PATIENTS}`);
    cells = releaseCells(trueCells(patients, by, domains, LABELS, clips), parts, LABELS, cryptoRandom).length;
    times.push(performance.now() - t0);
    reading.push(read);
  }
  const first = times[0] as number;
  const sorted = [...times].sort((a, b) => a - b);
  const sortedReading = [...reading].sort((a, b) => a - b);
  const n = PATIENTS.toLocaleString('en');
  console.log(`${`balance report, whole path, ${n} patients, ${cells} cells`.padEnd(52)}   p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms (${RUNS} runs; run 1, key cache cold: ${first.toFixed(0)} ms)`);
  console.log(`${'  of which patientContributions'.padEnd(52)}   p50 ${percentile(sortedReading, 50).toFixed(0)} ms, p99 ${percentile(sortedReading, 99).toFixed(0)} ms`);
  console.log(`${`  raw floor: one SELECT of the ${n} registrations`.padEnd(52)}   ${rawEvents.toFixed(0)} ms`);
  console.log(`${`  raw floor: one SELECT of the ${n} key rows`.padEnd(52)}   ${rawKeys.toFixed(0)} ms`);
  console.log(`${`  raw floor: ${n} AES-GCM decrypts at ${Math.round(gcm).toLocaleString('en')}/s`.padEnd(52)}   ${((PATIENTS / gcm) * 1000).toFixed(0)} ms`);
  console.log('  (every run reads and unwraps its keys afresh: openMany holds them for the report only, not in the key cache)');

  // The per-event path it replaces (cipher.open, one key lookup and node-jose key per patient, 32 at a time), on a slice, cold.
  const OLD = Math.min(PATIENTS, Number(process.env.BENCH_BALANCE_OLD ?? 5_000));
  if (OLD > 0) {
    const rows = await db.query<{ data: unknown }>(`SELECT data FROM custos_events WHERE stream_id = ANY($1) AND type = 'ImageRegistered'`, [streams.slice(0, OLD)]);
    const cold = new PayloadCipher(new KeyService(db, ring), IMAGE_PERSONAL);
    const oldMs = await ms(async () => {
      for (let j = 0; j < rows.length; j += 32) await Promise.all(rows.slice(j, j + 32).map((r) => cold.open({ data: (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, unknown> })));
    });
    const fresh = new PayloadCipher(new KeyService(db, ring), IMAGE_PERSONAL);
    const newMs = await ms(() => fresh.openMany(rows.map((r) => ({ data: (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, unknown> }))));
    console.log(`${`  opening ${OLD.toLocaleString('en')} registrations, cold: one open per row`.padEnd(52)}   ${oldMs.toFixed(0)} ms (${((oldMs / OLD) * 1000).toFixed(0)} µs/patient); openMany ${newMs.toFixed(0)} ms (${((newMs / OLD) * 1000).toFixed(0)} µs/patient)`);
  }
  results.push({ what: `balance report whole path p50 ms, ${PATIENTS} patients`, perSecond: percentile(sorted, 50) }, { what: `balance report whole path p99 ms, ${PATIENTS} patients`, perSecond: percentile(sorted, 99) });
}
