import type { INestApplication } from '@nestjs/common';
import { Database } from '@custos/event-store';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from './helpers.js';

const DATASET = { purpose: 'AI_TRAINING', labels: ['nodule', 'mass'], credentials: ['certified-radiologist'], minReviewers: 1 };
const box = { type: 'bbox', x: 1, y: 10, width: 20, height: 20 };
const WINDOW = 12;

/**
 * The group-agreement finding end to end (embedded: the gateway measures after each review,
 * the sentinel it hosts judges the recorded measurement): two annotators who disagree on every
 * image of the female group, reviews through the API, until a `group-agreement` finding shows.
 */
describe('group agreement finding over HTTP (embedded)', () => {
  let app: INestApplication;
  let t: Record<'steward' | 'ann' | 'ann2' | 'rev' | 'patient', string>;
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    app = await bootEmbedded({ SENTINEL_POLL_MS: '20', BIAS_KAPPA_WINDOW: String(WINDOW) });
    t = {
      steward: await devToken(app, { sub: 'stew-1', roles: ['data-steward'] }),
      ann: await devToken(app, { sub: 'ann-1', roles: ['annotator'], credentials: ['certified-radiologist'] }),
      ann2: await devToken(app, { sub: 'ann-2', roles: ['annotator'], credentials: ['certified-radiologist'] }),
      rev: await devToken(app, { sub: 'rev-1', roles: ['reviewer'], credentials: ['certified-radiologist'] }),
      patient: await devToken(app, { sub: 'pat-ag', roles: ['patient'], patient_id: 'pag1' }),
    };
    await http().put('/v1/datasets/ds-ag').set(bearer(t.steward)).send(DATASET).expect(200);
    await http().put('/v1/patients/pag1/consents/AI_TRAINING').set(bearer(t.patient)).send({ status: 'granted', categories: ['ANNOTATIONS'] }).expect(200);
  });
  afterAll(async () => {
    await app.close();
  });

  async function findings(query: string, atLeast: number, timeoutMs = 20_000): Promise<{ items: Array<Record<string, unknown>>; total: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await http().get(`/v1/findings?${query}`).set(bearer(t.steward)).expect(200);
      if (res.body.total >= atLeast) return res.body;
      if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} findings for ${query}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('annotators disagreeing on the female images: the gateway records the measurement, the sentinel raises one finding naming no patient', async () => {
    const first: string[] = [];
    // Two more images than the window: the read models may lag the last reviews.
    for (let i = 0; i < WINDOW + 2; i++) {
      const imageId = `img-ag${i}`;
      await http().post('/v1/images').set(bearer(t.steward)).send({ ...IMAGE(imageId, 'pag1'), datasetId: 'ds-ag' }).expect(201);
      const label = i % 2 ? 'nodule' : 'mass';
      const a = await http().post(`/v1/images/${imageId}/annotations`).set(bearer(t.ann)).send({ label, geometry: box, confidence: 0.9 }).expect(201);
      await http().post(`/v1/images/${imageId}/annotations`).set(bearer(t.ann2)).send({ label: label === 'mass' ? 'nodule' : 'mass', geometry: box, confidence: 0.8 }).expect(201);
      first.push(a.body.annotationId as string);
    }
    for (const annotationId of first) await http().post(`/v1/annotations/${annotationId}/reviews`).set(bearer(t.rev)).send({ verdict: 'approved' }).expect(200);

    const page = await findings('rule=group-agreement&datasetId=ds-ag', 1);
    const female = page.items.find((f) => (f.facts as Record<string, unknown>).group === 'female');
    expect(female).toMatchObject({ rule: 'group-agreement', state: 'open', datasetId: 'ds-ag', facts: { dimension: 'sex', group: 'female', kappa: -1, window: WINDOW, minKappa: 0.6 } });
    expect((female?.facts as { images: number }).images).toBeGreaterThanOrEqual(10);
    const got = (await http().get(`/v1/findings/${female?.findingId as string}`).set(bearer(t.steward)).expect(200)).body;
    expect(got.evidence.length).toBeGreaterThanOrEqual(11); // the measurement and at least ten reviews
    expect(JSON.stringify(got)).not.toMatch(/pag1|img-ag/);

    // The measurement is in the log on the dataset's agreement stream, recorded once per group.
    const db = app.get(Database) as Database;
    const measured = await db.query<{ data: { dimension: string; group: string; state: string } }>("SELECT data FROM custos_events WHERE stream_id = 'agreement-ds-ag' ORDER BY global_seq");
    expect(measured.map((m) => `${m.data.dimension}=${m.data.group}:${m.data.state}`)).toContain('sex=female:below');
    expect(new Set(measured.map((m) => `${m.data.dimension}=${m.data.group}`)).size).toBe(measured.length);
    expect(got.evidence[0]).toMatchObject({ sequence: expect.any(Number) });

    // Findings are for stewards: an annotator or a reviewer is refused.
    await http().get('/v1/findings?rule=group-agreement').set(bearer(t.ann)).expect(403);
    await http().get('/v1/findings?rule=group-agreement').set(bearer(t.rev)).expect(403);
  });
});
