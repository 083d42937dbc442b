import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from './helpers.js';

/** Watching the watchers (issue 18, defect 9): an officer reading many patients' trails is a case. */
describe('oversight-reads over HTTP (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  let reviewer: string;

  beforeAll(async () => {
    app = await bootEmbedded({ SENTINEL_POLL_MS: '20' });
    const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    reviewer = await devToken(app, { sub: 'so-reviewer', roles: ['security-officer'] });
    for (let i = 0; i < 25; i++) await http().post('/v1/images').set(bearer(steward)).send(IMAGE(`img-o${i}`, `op${i}`)).expect(201);
  });
  afterAll(async () => {
    await app.close();
  });

  async function incidentsOf(actor: string): Promise<Array<Record<string, unknown>>> {
    const res = await http().get(`/v1/incidents?actor=${encodeURIComponent(actor)}`).set(bearer(reviewer)).expect(200);
    return res.body.items as Array<Record<string, unknown>>;
  }

  async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const got = await probe();
      if (got !== undefined) return got;
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('19 patients’ trails read by one officer raise nothing; the 20th opens one oversight-reads case naming the 20', async () => {
    const officer = await devToken(app, { sub: 'so-curious', roles: ['security-officer'] });
    for (let i = 0; i < 19; i++) await http().get(`/v1/patients/op${i}/access-trail`).set(bearer(officer)).expect(200);
    // The sentinel has evaluated those reads (a later event is seen after them) and stays quiet.
    await http().get('/v1/patients/op0/access-trail').set(bearer(reviewer)).expect(200);
    await new Promise((r) => setTimeout(r, 500));
    expect(await incidentsOf('so-curious')).toEqual([]);

    await http().get('/v1/patients/op19/disclosures').set(bearer(officer)).expect(200);
    const [incident, ...more] = await until(async () => {
      const items = await incidentsOf('so-curious');
      return items.length > 0 ? items : undefined;
    });
    expect(more).toEqual([]);
    expect(incident).toMatchObject({ subject: { kind: 'actor', id: 'so-curious' }, rules: ['oversight-reads'], severity: 'medium' });
    const got = (await http().get(`/v1/incidents/${incident?.incidentId as string}`).set(bearer(reviewer)).expect(200)).body;
    expect([...(got.patientIds as string[])].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `op${i}`).sort());
  });
});
