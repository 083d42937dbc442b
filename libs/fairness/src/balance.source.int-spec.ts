import { ALL_MIGRATIONS } from '@custos/contexts';
import { type AppendRequest, EventStore } from '@custos/event-store';
import { IMAGE_PERSONAL } from '@custos/imaging';
import { KeyService, openKek, PayloadCipher } from '@custos/keys';
import { openTestStore, type StoreKind, type TestStore } from '@custos/testing';
import { patientContributions } from './balance.source.js';

/**
 * The true counts adapter against real read-model tables and sealed registrations: images per
 * patient, approved not-deleted annotations per label, demographics from the first image,
 * erased keys read as unknown. BALANCE_SOURCE_N=100000 runs the scale measurement (opt-in: it
 * makes one data key per patient).
 */
const GROUPS = ['asian', 'black', 'hispanic', 'white', 'other', 'unknown'];
const SCALE = Number(process.env.BALANCE_SOURCE_N ?? 0);

async function seed(t: TestStore, keys: KeyService, datasetId: string, patients: number, imagesEach: (i: number) => number): Promise<void> {
  const store = new EventStore(t.db, { sealer: new PayloadCipher(keys, IMAGE_PERSONAL) });
  let seq = 0;
  const batch: AppendRequest[] = [];
  const rows: unknown[][] = [];
  const flush = async () => {
    if (batch.length) await store.appendBatch(batch.splice(0));
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await t.db.query(`INSERT INTO custos_rm_dataset_images (image_id, dataset_id, patient_id, entered_seq) VALUES ${chunk.map((_, j) => `($${j * 4 + 1}, $${j * 4 + 2}, $${j * 4 + 3}, $${j * 4 + 4})`).join(', ')}`, chunk.flat());
    }
    rows.length = 0;
  };
  for (let p = 0; p < patients; p++) {
    for (let k = 0; k < imagesEach(p); k++) {
      const imageId = `${datasetId}-img-${p}-${k}`;
      // The first image says who the patient is; later ones disagree (only the first counts).
      const demographics = k === 0 ? { sex: p % 2 ? 'F' : 'M', birthYear: 1950 + (p % 60), ethnicity: GROUPS[p % GROUPS.length] } : { sex: 'other', birthYear: 2020, ethnicity: 'asian' };
      batch.push({
        streamId: `image-${imageId}`,
        expectedVersion: 'no-stream',
        events: [{ type: 'ImageRegistered', schemaVersion: 1, data: { imageId, patientId: `${datasetId}-p${p}`, modality: 'CT', bodySite: 'chest', datasetId, demographics }, metadata: { actor: { id: 'stew-1', roles: ['data-steward'] }, correlationId: 'c', patientId: `${datasetId}-p${p}` }, occurredAt: new Date() }],
      });
      rows.push([imageId, datasetId, `${datasetId}-p${p}`, (seq += 1)]);
    }
    // The patient's key first, one at a time: sealing a batch then finds it cached, instead of 200 key
    // lookups racing for the pool (at 100,000 patients on a loaded machine they timed out connecting).
    await keys.dataKeyFor(`${datasetId}-p${p}`);
    if (batch.length >= 200) await flush();
  }
  await flush();
}

async function annotate(t: TestStore, datasetId: string, rows: Array<[patient: number, label: string, status: string, deleted: boolean]>): Promise<void> {
  let n = 0;
  for (const [p, label, status, deleted] of rows) {
    n += 1;
    await t.db.query(
      `INSERT INTO custos_rm_annotations (annotation_id, image_id, dataset_id, patient_id, label, status, version, deleted, created_by, created_at, updated_at, last_seq)
       VALUES ($1, $2, $3, $4, $5, $6, 1, $7, 'ann-1', now(), now(), $8)`,
      [`${datasetId}-a${n}`, `${datasetId}-img-${p}-0`, datasetId, `${datasetId}-p${p}`, label, status, deleted, n],
    );
  }
}

describe.each<StoreKind>(['pglite', 'postgres'])('the true counts of a dataset (%s)', (kind) => {
  let t: TestStore;
  let keys: KeyService;
  let ring: Awaited<ReturnType<typeof openKek>>;
  beforeAll(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
    ring = await openKek({ kind: 'memory' }, () => undefined);
    keys = new KeyService(t.db, ring);
  });
  afterAll(async () => {
    await t.close();
  });

  it('per patient: images, approved not-deleted annotations per label, groups of the first image; an erased key reads unknown', async () => {
    await seed(t, keys, 'ds-s', 6, (p) => 1 + (p % 3));
    await annotate(t, 'ds-s', [
      [0, 'nodule', 'approved', false],
      [0, 'nodule', 'approved', false],
      [0, 'mass', 'approved', true], // deleted
      [1, 'mass', 'rejected', false],
      [1, 'mass', 'approved', false],
      [2, 'nodule', 'unreviewed', false],
    ]);
    await keys.destroy('ds-s-p5');
    const cipher = new PayloadCipher(keys, IMAGE_PERSONAL);
    const got = await patientContributions(t.db, cipher, 'ds-s', 2026, GROUPS);
    expect(got).toEqual([
      { groups: { sex: 'male', ageBand: '65+', ethnicity: 'asian' }, images: 1, annotations: { nodule: 2 } },
      { groups: { sex: 'female', ageBand: '65+', ethnicity: 'black' }, images: 2, annotations: { mass: 1 } },
      { groups: { sex: 'male', ageBand: '65+', ethnicity: 'hispanic' }, images: 3, annotations: {} },
      { groups: { sex: 'female', ageBand: '65+', ethnicity: 'white' }, images: 1, annotations: {} },
      { groups: { sex: 'male', ageBand: '65+', ethnicity: 'other' }, images: 2, annotations: {} },
      { groups: { sex: 'unknown', ageBand: 'unknown', ethnicity: 'unknown' }, images: 3, annotations: {} },
    ]);
    expect(await patientContributions(t.db, cipher, 'ds-none', 2026, GROUPS)).toEqual([]);
  });

  (SCALE > 0 ? it : it.skip)(`scales: ${SCALE} patients`, async () => {
    await seed(t, keys, 'ds-big', SCALE, () => 1);
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const cipher = new PayloadCipher(new KeyService(t.db, ring), IMAGE_PERSONAL); // cold caches of keys and opened parts each time
      const t0 = performance.now();
      const got = await patientContributions(t.db, cipher, 'ds-big', 2026, GROUPS);
      times.push(performance.now() - t0);
      expect(got.length).toBe(SCALE);
    }
    console.log(`${kind}: ${SCALE} patients, patientContributions ms: ${times.map((x) => Math.round(x)).join(', ')}`);
  }, 3_600_000);
});
