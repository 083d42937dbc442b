import type { INestApplication } from '@nestjs/common';
import { Database } from '@custos/event-store';
import { image, principals } from '@custos/testing';
import request from 'supertest';
import { bootEmbedded, contractViolations, tokenFor } from './helpers.js';

/**
 * Balance reports under differential privacy, over HTTP: who may ask, what is refused (and
 * spends nothing), the budgets and their race, the ledger, the reference population and flags.
 * Caps here: 1 per requester, 2 per dataset, 1 per release.
 */
const DATASET = { purpose: 'AI_TRAINING', labels: ['nodule', 'mass'], credentials: ['certified-radiologist'], minReviewers: 1 };
const ETHNICITIES = ['white', 'asian', 'hispanic', 'other'];

type Role = 'patient' | 'clinician' | 'annotator' | 'researcherOn' | 'researcherOff' | 'steward' | 'regulator' | 'security' | 'modelDev';

describe('balance reports, budgets and the ledger (embedded)', () => {
  let app: INestApplication;
  let db: Database;
  let t: Record<Role | 'reg2' | 'stew2', string>;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const ledger = async (ds: string) => (await http().get(`/v1/datasets/${ds}/privacy-ledger`).set(bearer(t.steward)).expect(200)).body as { spent: string; releases: number; items: Array<{ requester: string; epsilon: string }>; spentBy: Record<string, string> };

  beforeAll(async () => {
    app = await bootEmbedded({ DP_EPSILON_PER_REQUESTER: '1', DP_EPSILON_PER_DATASET: '2', DP_EPSILON_MAX_PER_RELEASE: '1' });
    db = app.get(Database) as Database;
    t = {
      patient: await tokenFor(app, principals.patient()),
      clinician: await tokenFor(app, principals.clinician()),
      annotator: await tokenFor(app, principals.annotator()),
      researcherOn: await tokenFor(app, principals.researcher({ sub: 'res-on' })),
      researcherOff: await tokenFor(app, principals.researcher({ sub: 'res-off' })),
      steward: await tokenFor(app, principals.steward()),
      stew2: await tokenFor(app, principals.steward({ sub: 'stew-2' })),
      regulator: await tokenFor(app, principals.regulator()),
      reg2: await tokenFor(app, principals.regulator({ sub: 'reg-2' })),
      security: await tokenFor(app, principals.securityOfficer()),
      modelDev: await tokenFor(app, principals.researcher({ sub: 'md-1', roles: ['model-developer'] })),
    };
    for (const ds of ['ds-bal', 'ds-rep', 'ds-empty']) await http().put(`/v1/datasets/${ds}`).set(bearer(t.steward)).send({ ...DATASET, researchers: ['res-on'] }).expect(200);
    // ds-bal: 24 patients, 1-2 images each; ds-rep: 60 patients, none of them black.
    const images: Array<ReturnType<typeof image>> = [];
    for (let i = 0; i < 24; i++) {
      const demographics = { sex: i % 2 ? 'F' : 'M', birthYear: 1950 + i, ethnicity: ETHNICITIES[i % 4] as string };
      images.push(image({ imageId: `bal-${i}-a`, patientId: `pb${i}`, datasetId: 'ds-bal', demographics }));
      if (i % 3 === 0) images.push(image({ imageId: `bal-${i}-b`, patientId: `pb${i}`, datasetId: 'ds-bal', demographics }));
    }
    for (let i = 0; i < 60; i++) images.push(image({ imageId: `rep-${i}`, patientId: `pr${i}`, datasetId: 'ds-rep', demographics: { sex: i % 2 ? 'F' : 'M', birthYear: 1960, ethnicity: ETHNICITIES[i % 4] as string } }));
    for (let i = 0; i < images.length; i += 16) await Promise.all(images.slice(i, i + 16).map((img) => http().post('/v1/images').set(bearer(t.steward)).send(img).expect(201)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [row] = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM custos_rm_dataset_images WHERE dataset_id IN ($1, $2)', ['ds-bal', 'ds-rep']);
      if (Number(row?.n) >= images.length) break;
      if (Date.now() > deadline) throw new Error('the dataset images were not projected');
      await new Promise((r) => setTimeout(r, 25));
    }
  }, 180_000);
  afterAll(async () => {
    await app.close();
  });

  it('authorization: stewards, regulators and researchers on the dataset; no one else (nothing spent)', async () => {
    const expected: Record<Role, number> = { patient: 403, clinician: 403, annotator: 403, researcherOn: 200, researcherOff: 403, steward: 200, regulator: 200, security: 403, modelDev: 403 };
    for (const [role, status] of Object.entries(expected) as Array<[Role, number]>) {
      for (const path of ['/v1/datasets/ds-bal/balance/plan?epsilon=0.5&by=sex', '/v1/datasets/ds-bal/privacy-ledger', '/v1/datasets/ds-bal/reference-population']) {
        const res = await http().get(path).set(bearer(t[role]));
        // The reference population is not set yet: a permitted read is a 404 no-reference.
        expect([role, path, res.status]).toEqual([role, path, path.endsWith('reference-population') && status === 200 ? 404 : status]);
      }
    }
    const off = await http().get('/v1/datasets/ds-bal/balance?epsilon=0.5&by=sex').set(bearer(t.researcherOff)).expect(403);
    expect(off.body.code).toBe('not-on-dataset');
    for (const role of ['patient', 'clinician', 'annotator', 'security', 'modelDev'] as const) await http().get('/v1/datasets/ds-bal/balance?epsilon=0.5&by=sex').set(bearer(t[role])).expect(403);
    expect((await ledger('ds-bal')).spent).toBe('0');
  });

  it('refuses bad input with 400 naming the field, and spends nothing', async () => {
    const table: Array<[string, string]> = [
      ['by=sex', 'bad-epsilon'],
      ['epsilon=0&by=sex', 'bad-epsilon'],
      ['epsilon=-1&by=sex', 'bad-epsilon'],
      ['epsilon=abc&by=sex', 'bad-epsilon'],
      ['epsilon=0.1234567&by=sex', 'bad-epsilon'],
      ['epsilon=1e-3&by=sex', 'bad-epsilon'],
      ['epsilon=NaN&by=sex', 'bad-epsilon'],
      ['epsilon=Infinity&by=sex', 'bad-epsilon'],
      ['epsilon=1.5&by=sex', 'bad-epsilon'],
      ['epsilon=99999999999999999999&by=sex', 'bad-epsilon'],
      ['epsilon=0.000001&by=sex', 'bad-epsilon'],
      ['epsilon=0.5&epsilon=0.5&by=sex', 'bad-epsilon'],
      ['epsilon[]=0.5&by=sex', 'validation-failed'], // an unknown parameter and a missing one
      ['epsilon=0.5', 'bad-by'],
      ['epsilon=0.5&by=', 'bad-by'],
      ['epsilon=0.5&by=race', 'bad-by'],
      ['epsilon=0.5&by=sex,sex', 'bad-by'],
      ['epsilon=0.5&by=sex,ageBand,ethnicity,sex', 'bad-by'],
      ['epsilon=0.5&by=sex&by=ageBand', 'bad-by'],
      ['epsilon=0.5&by=sex,', 'bad-by'],
    ];
    for (const [qs, code] of table) {
      for (const route of ['balance', 'balance/plan']) {
        const res = await http().get(`/v1/datasets/ds-bal/${route}?${qs}`).set(bearer(t.steward));
        expect([qs, route, res.status, res.body.code]).toEqual([qs, route, 400, code]);
        expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      }
    }
    await http().get('/v1/datasets/nope/balance?epsilon=0.5&by=sex').set(bearer(t.steward)).expect(404);
    const empty = await http().get('/v1/datasets/ds-empty/balance?epsilon=0.5&by=sex').set(bearer(t.steward)).expect(400);
    expect(empty.body.code).toBe('dataset-empty');
    expect(await ledger('ds-bal')).toMatchObject({ spent: '0', releases: 0, items: [] });
    expect((await ledger('ds-empty')).spent).toBe('0');
  });

  it('plan spends nothing and records nothing in the ledger', async () => {
    const plan = await http().get('/v1/datasets/ds-bal/balance/plan?epsilon=0.5&by=sex,ethnicity').set(bearer(t.researcherOn)).expect(200);
    expect(plan.body).toMatchObject({ spends: '0', affordable: true, cellCount: 4 * 6, remaining: { requester: '1', dataset: '2' }, estimates: null, cells: null, groups: [] });
    expect(plan.body.parts.patients).toMatchObject({ epsilon: '0.25', sensitivity: 1, scale: 4 });
    for (const total of ['0', '-5', 'abc', '1e3', '1000000000', '2.5']) {
      const bad = await http().get(`/v1/datasets/ds-bal/balance/plan?epsilon=0.5&by=sex&total=${total}`).set(bearer(t.steward));
      expect([total, bad.status, bad.body.code]).toEqual([total, 400, 'bad-total']);
    }
    await http().get('/v1/datasets/ds-bal/balance/plan?epsilon=0.5&by=sex&total=5&total=6').set(bearer(t.steward)).expect(400);
    expect(await ledger('ds-bal')).toMatchObject({ spent: '0', releases: 0 });
  });

  it('releases a report: noisy cells with sd and intervals, recorded before the answer, never a true count in the event', async () => {
    const res = await http().get('/v1/datasets/ds-bal/balance?epsilon=0.5&by=sex').set(bearer(t.steward)).expect(200);
    const body = res.body as { releaseId: string; sequence: number; epsilon: string; remaining: unknown; cells: Array<{ group: { sex: string }; patients: { value: number; sd: number; interval: [number, number]; coversZero: boolean }; annotations: Record<string, unknown> }>; reference: unknown; parts: Record<string, { epsilon: string }> };
    expect(body).toMatchObject({ epsilon: '0.5', remaining: { requester: '0.5', dataset: '1.5' }, reference: null, query: { by: ['sex'], epsilon: '0.5' } });
    expect(body.cells.map((c) => c.group.sex)).toEqual(['female', 'male', 'other', 'unknown']);
    expect(Object.keys(body.cells[0]?.annotations ?? {})).toEqual(['nodule', 'mass']);
    expect([body.parts.patients?.epsilon, body.parts.images?.epsilon, body.parts.annotations?.epsilon]).toEqual(['0.25', '0.125', '0.125']);
    for (const c of body.cells) {
      expect(c.patients.interval[0]).toBeLessThanOrEqual(c.patients.value);
      expect(c.patients.coversZero).toBe(c.patients.interval[0] <= 0 && c.patients.interval[1] >= 0);
    }
    const [event] = await db.query<{ data: Record<string, unknown>; global_seq: string | number }>("SELECT data, global_seq FROM custos_events WHERE stream_id = 'privacy-ds-bal' AND type = 'BalanceReleased'");
    expect(Number(event?.global_seq)).toBe(body.sequence);
    const data = event?.data as { releaseId: string; requester: string; cells: Array<Record<string, unknown>> };
    expect(data.releaseId).toBe(body.releaseId);
    expect(data.requester).toBe('stew-1');
    expect(Object.keys(data).sort()).toEqual(['asOfSequence', 'caps', 'cells', 'cleared', 'datasetId', 'epsilonMicros', 'flagged', 'groups', 'labels', 'mechanism', 'parts', 'query', 'referenceVersion', 'releaseId', 'requester'].sort());
    // The event's counts are exactly the noisy ones answered; nothing else per cell.
    expect(data.cells.map((c) => Object.keys(c).sort())).toEqual(body.cells.map(() => ['annotations', 'group', 'images', 'patients']));
    expect(data.cells.map((c) => c.patients)).toEqual(body.cells.map((c) => c.patients.value));
    // A second release of the same query draws fresh noise (the true counts are not what is recorded: two releases rarely agree in all 12 counts).
    const again = await http().get('/v1/datasets/ds-bal/balance?epsilon=0.5&by=sex').set(bearer(t.regulator)).expect(200);
    expect(again.body.remaining).toEqual({ requester: '0.5', dataset: '1' });
    const l = await ledger('ds-bal');
    expect(l).toMatchObject({ spent: '1', releases: 2, spentBy: { 'stew-1': '0.5', 'reg-1': '0.5' } });
    expect(l.items.map((i) => [i.requester, i.epsilon])).toEqual([['stew-1', '0.5'], ['reg-1', '0.5']]);
  });

  it('a researcher sees their own ledger entries and the totals; the ledger read is recorded', async () => {
    await http().get('/v1/datasets/ds-bal/balance?epsilon=0.5&by=ageBand').set(bearer(t.researcherOn)).expect(200);
    const mine = (await http().get('/v1/datasets/ds-bal/privacy-ledger').set(bearer(t.researcherOn)).expect(200)).body as { items: Array<{ requester: string }>; spent: string; spentBy: Record<string, string>; remaining: unknown };
    expect(mine.items.map((i) => i.requester)).toEqual(['res-on']);
    expect(mine.spentBy).toEqual({ 'res-on': '0.5' });
    expect(mine).toMatchObject({ spent: '1.5', remaining: { requester: '0.5', dataset: '0.5' } });
    const reads = await db.query("SELECT 1 FROM custos_events WHERE type = 'AuditDataRead' AND data->>'resourceType' = 'privacy-ledger'");
    expect(reads.length).toBeGreaterThan(0);
  });

  it('exhaustion: 403 privacy-budget-exhausted with what is left, recorded as a refusal outside the privacy stream', async () => {
    const refused = await http().get('/v1/datasets/ds-bal/balance?epsilon=0.6&by=sex').set(bearer(t.researcherOn)).expect(403);
    expect(refused.body).toMatchObject({ code: 'privacy-budget-exhausted', requested: '0.6', remaining: { requester: '0.5', dataset: '0.5' } });
    const recorded = await db.query<{ stream_id: string }>("SELECT stream_id FROM custos_events WHERE type = 'RouteAccessDenied' AND data->>'rule' = 'privacy-budget-exhausted'");
    expect(recorded.length).toBe(1);
    expect(recorded[0]?.stream_id.startsWith('privacy-')).toBe(false);
    expect((await ledger('ds-bal')).spent).toBe('1.5');
  });

  it('20 requests race for the last 0.5 of the dataset budget at 0.1 each: exactly 5 answered, 15 refused, the ledger at the cap', async () => {
    const tokens = [t.reg2, t.stew2];
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => http().get('/v1/datasets/ds-bal/balance?epsilon=0.1&by=sex').set(bearer(tokens[i % 2] as string))));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200).length).toBe(5);
    expect(statuses.filter((s) => s === 403).length).toBe(15);
    expect(answers.filter((a) => a.status === 403).every((a) => a.body.code === 'privacy-budget-exhausted')).toBe(true);
    const l = await ledger('ds-bal');
    expect(l).toMatchObject({ spent: '2', releases: 8 });
    const plan = await http().get('/v1/datasets/ds-bal/balance/plan?epsilon=0.1&by=sex').set(bearer(t.steward)).expect(200);
    expect(plan.body).toMatchObject({ affordable: false, remaining: { dataset: '0' } });
  }, 120_000);

  it('reference population: steward only, versioned with If-Match (412 when stale), bad shares refused naming the field', async () => {
    const ref = { source: '2021 census, test catchment', shares: { ethnicity: { white: 0.05, asian: 0.05, hispanic: 0.05, black: 0.8, other: 0.05 } } };
    await http().put('/v1/datasets/ds-rep/reference-population').set(bearer(t.researcherOn)).send(ref).expect(403);
    await http().put('/v1/datasets/ds-rep/reference-population').set(bearer(t.regulator)).send(ref).expect(403);
    await http().put('/v1/datasets/nope/reference-population').set(bearer(t.steward)).send(ref).expect(404);
    const bad: Array<[unknown, string]> = [
      [{ ...ref, source: '' }, 'source'],
      [{ ...ref, source: 'x'.repeat(201) }, 'source'],
      [{ ...ref, shares: {} }, 'shares'],
      [{ ...ref, shares: [] }, 'shares'],
      [{ ...ref, shares: null }, 'shares'],
      [{ ...ref, shares: { race: { white: 1 } } }, 'shares.race'],
      [{ ...ref, shares: { ethnicity: { martian: 1 } } }, 'shares.ethnicity'],
      [{ ...ref, shares: { sex: { female: 0.5, male: 0.4 } } }, 'shares.sex'],
      [{ ...ref, shares: { sex: { female: 1.5, male: -0.5 } } }, 'shares.sex.female'],
      [{ ...ref, shares: { sex: { female: '0.5', male: 0.5 } } }, 'shares.sex.female'],
      [{ ...ref, shares: { sex: { female: 0, male: 1 } } }, 'shares.sex.female'],
      [{ ...ref, shares: { sex: [0.5, 0.5] } }, 'shares.sex'],
      [{ ...ref, shares: { sex: { female: 1e308, male: 1e308 } } }, 'shares.sex.female'],
    ];
    for (const [body, field] of bad) {
      const res = await http().put('/v1/datasets/ds-rep/reference-population').set(bearer(t.steward)).send(body as object);
      expect([field, res.status, res.body.code]).toEqual([field, 400, 'bad-reference']);
      expect(JSON.stringify(res.body)).toContain(field.split('.')[0]);
    }
    const first = await http().put('/v1/datasets/ds-rep/reference-population').set(bearer(t.steward)).send(ref).expect(200);
    expect(first.body.version).toBe(1);
    expect(first.headers.etag).toBe('"1"');
    const stale = await http().put('/v1/datasets/ds-rep/reference-population').set(bearer(t.steward)).set('if-match', '"7"').send(ref).expect(412);
    expect(stale.body).toMatchObject({ code: 'stale-version', currentVersion: 1 });
    const read = await http().get('/v1/datasets/ds-rep/reference-population').set(bearer(t.researcherOn)).expect(200);
    expect(read.body).toMatchObject({ ...ref, version: 1 });
    expect(read.headers.etag).toBe('"1"');
  });

  it('a report against the reference flags the group the dataset lacks, and records the flag with the reference version', async () => {
    const res = await http().get('/v1/datasets/ds-rep/balance?epsilon=1&by=ethnicity').set(bearer(t.steward)).expect(200);
    const body = res.body as { representation: Array<{ group: string; flagged: boolean; interval: [number, number | null] }>; flagged: Array<{ kind: string; group: string }>; reference: unknown };
    expect(body.reference).toEqual({ version: 1, source: '2021 census, test catchment' });
    expect(body.representation.map((r) => r.group).sort()).toEqual(['asian', 'black', 'hispanic', 'other', 'white']);
    expect(body.representation.find((r) => r.group === 'black')?.flagged).toBe(true);
    expect(body.flagged).toContainEqual(expect.objectContaining({ kind: 'representation', group: 'black' }));
    const [event] = await db.query<{ data: { flagged: unknown[]; referenceVersion: number } }>("SELECT data FROM custos_events WHERE stream_id = 'privacy-ds-rep'");
    expect(event?.data.referenceVersion).toBe(1);
    expect(event?.data.flagged).toEqual(body.flagged);

    // The plan now estimates the cells from that release (public already): per cell the expected
    // relative error, per reference group the chance of a flipped flag and the curve; nothing spent.
    const spent = (await ledger('ds-rep')).spent;
    const plan = (await http().get('/v1/datasets/ds-rep/balance/plan?epsilon=0.5&by=ethnicity').set(bearer(t.steward)).expect(200)).body as {
      estimates: { from: string; releaseId: string };
      cells: Array<{ estimate: number; expectedRelativeError: number | null }>;
      groups: Array<{ group: string; flipProbability: number; underMinimum: boolean; curve: Array<{ ratio: number; flagProbability: number }> }>;
    };
    expect(plan.estimates).toMatchObject({ from: 'latest-release', releaseId: (body as unknown as { releaseId: string }).releaseId });
    expect(plan.cells).toHaveLength(6);
    expect(plan.groups.map((g) => g.group).sort()).toEqual(['asian', 'black', 'hispanic', 'other', 'white']);
    const black = plan.groups.find((g) => g.group === 'black');
    expect(black?.underMinimum).toBe(true);
    expect(black?.flipProbability).toBeGreaterThanOrEqual(0);
    expect(black?.flipProbability).toBeLessThanOrEqual(1);
    expect(black?.curve.map((p) => p.ratio)).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1, 1.05, 1.1, 1.15, 1.2]);
    const byTotal = (await http().get('/v1/datasets/ds-rep/balance/plan?epsilon=0.5&by=ethnicity&total=2000').set(bearer(t.steward)).expect(200)).body as { estimates: { from: string }; groups: Array<{ flipProbability: number | null; curve: unknown[] }> };
    expect(byTotal.estimates.from).toBe('total');
    expect(byTotal.groups.every((g) => g.flipProbability === null && g.curve.length === 15)).toBe(true);
    expect((await ledger('ds-rep')).spent).toBe(spent);
  });

  it('answers only what the OpenAPI document declares', () => {
    expect(contractViolations(app)).toEqual([]);
  });
});
