import type { INestApplication } from '@nestjs/common';
import { EventStore } from '@custos/event-store';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE } from './helpers.js';

/**
 * Arrays and null where a request declares an object or a date, and break-the-glass reasons
 * that look long but show nothing: each a 400 problem with a code, none stored.
 */
describe('shapes: a nested object is an object, a field is given or left out, a reason is readable', () => {
  let app: INestApplication;
  let t: { steward: string; dr: string; sec: string; p1: string };
  const http = () => request(app.getHttpServer());
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    app = await bootEmbedded();
    t = {
      steward: await devToken(app, { sub: 'stew-1', roles: ['data-steward'] }),
      dr: await devToken(app, { sub: 'dr-1', roles: ['clinician'] }),
      sec: await devToken(app, { sub: 'sec-1', roles: ['security-officer'] }),
      p1: await devToken(app, { sub: 'pat-1', roles: ['patient'], patient_id: 'p1' }),
    };
    await http().post('/v1/images').set(bearer(t.steward)).send(IMAGE('img-1', 'p1')).expect(201);
  });
  afterAll(async () => {
    await app.close();
  });

  async function expect400(method: 'post' | 'put', url: string, token: string, body: object): Promise<void> {
    const res = await http()[method](url).set(bearer(token)).send(body);
    expect([url, JSON.stringify(body).slice(0, 120), res.status]).toEqual([url, JSON.stringify(body).slice(0, 120), 400]);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.code).toBe('validation-failed');
  }

  it('refuses an array, null, a scalar or nothing where an object is declared, and stores nothing', async () => {
    const store = app.get(EventStore);
    const before = (await store.head()).lastSeq;
    const incident = { title: 't', severity: 'low' };
    for (const subject of [[], [{ kind: 'actor', id: 'x' }], null, 'actor', 7]) await expect400('post', '/v1/incidents', t.sec, { ...incident, subject });
    await expect400('post', '/v1/incidents', t.sec, incident); // no subject at all
    for (const demographics of [[], null, 'F', [{ sex: 'F', birthYear: 1970, ethnicity: 'x' }]]) await expect400('post', '/v1/images', t.steward, { ...IMAGE('img-2', 'p2'), demographics });
    const noDemographics: Record<string, unknown> = { ...IMAGE('img-2', 'p2') };
    delete noDemographics.demographics;
    await expect400('post', '/v1/images', t.steward, noDemographics);
    for (const emergency of [[], null, 'now', [{ reason: 'unconscious patient, prior imaging needed now' }]]) {
      await expect400('post', '/v1/access-requests', t.dr, { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT', emergency });
    }
    for (const recipients of [[[]], [null], ['org-1']]) await expect400('put', '/v1/patients/p1/consents/RESEARCH', t.p1, { status: 'granted', recipients });
    // Nothing of the above was recorded as a change (refused reads of the body are not events).
    const types = (await store.readAll(before + 1, 1000)).map((e) => e.type);
    expect(types.filter((type) => ['IncidentOpened', 'ImageRegistered', 'ConsentGranted', 'AccessPermitted', 'AccessDecided'].includes(type))).toEqual([]);
  });

  it('refuses the assessment without its four factors or its counts as objects', async () => {
    const opened = await http().post('/v1/incidents').set(bearer(t.sec)).send({ title: 'tip', severity: 'low', subject: { kind: 'actor', id: 'someone-else' } }).expect(201);
    const url = `/v1/incidents/${opened.body.incidentId as string}/assessment`;
    const factors = { natureAndExtent: 'n', unauthorizedPerson: 'u', acquiredOrViewed: 'a', mitigation: 'm' };
    const affected = { total: 1, byRegion: { CA: 1 }, euResidents: 0 };
    const base = { decision: 'breach', rationale: 'r' };
    await expect400('post', url, t.sec, { ...base, factors: [], affected: [] });
    await expect400('post', url, t.sec, { ...base, factors: [], affected });
    await expect400('post', url, t.sec, { ...base, factors, affected: [] });
    await expect400('post', url, t.sec, { ...base, factors: null, affected: null });
    await expect400('post', url, t.sec, { ...base, factors }); // no affected
    await expect400('post', url, t.sec, { ...base, affected }); // no factors
    await expect400('post', url, t.sec, { ...base, factors, affected: { ...affected, byRegion: [] } });
  });

  it('answers null for a date (expiresAt, discoveredAt, until, awareAt) with 400, never 500', async () => {
    await expect400('put', '/v1/patients/p1/consents/RESEARCH', t.p1, { status: 'granted', expiresAt: null });
    await expect400('post', '/v1/incidents', t.sec, { title: 't', severity: 'low', subject: { kind: 'actor', id: 'someone-else' }, discoveredAt: null });
    const opened = await http().post('/v1/incidents').set(bearer(t.sec)).send({ title: 'tip', severity: 'low', subject: { kind: 'actor', id: 'someone-else' } }).expect(201);
    const id = opened.body.incidentId as string;
    await expect400('post', `/v1/incidents/${id}/holds`, t.sec, { kind: 'oral', agency: 'county police', from: '2026-01-01', until: null });
    await expect400('put', `/v1/incidents/${id}/discovery`, t.sec, { discoveredAt: null, note: 'n' });
    await expect400('put', `/v1/incidents/${id}/discovery`, t.sec, { discoveredAt: '2026-01-01', awareAt: null, note: 'n' });
  });

  it('answers null in any optional body field without a 500 (400 for the dates, as if left out elsewhere)', async () => {
    const admin = await devToken(app, { sub: 'admin-1', roles: ['admin'] });
    const opened = await http().post('/v1/incidents').set(bearer(t.sec)).send({ title: 'tip', severity: 'low', subject: { kind: 'actor', id: 'someone-else' } }).expect(201);
    const inc = `/v1/incidents/${opened.body.incidentId as string}`;
    const cases: Array<['post' | 'put' | 'delete', string, string, Record<string, unknown>, string[]]> = [
      ['put', '/v1/patients/p1/consents/RESEARCH', t.p1, { status: 'granted' }, ['categories', 'recipients', 'capturedBy', 'evidenceRef', 'expiresAt']],
      ['delete', '/v1/patients/p1/consents/RESEARCH', t.p1, {}, ['capturedBy', 'evidenceRef']],
      ['post', '/v1/incidents', t.sec, { title: 't', severity: 'low', subject: { kind: 'actor', id: 'someone-else' } }, ['patientIds', 'evidence', 'discoveredAt']],
      ['post', `${inc}/holds`, t.sec, { kind: 'oral', agency: 'county police', from: '2026-01-01' }, ['until']],
      ['put', `${inc}/discovery`, t.sec, { discoveredAt: '2026-01-01', note: 'n' }, ['awareAt']],
      ['put', '/v1/workforce/nurse-7', admin, { familyName: 'Roe', address: '1 Main St', department: 'radiology', status: 'active', since: '2026-01-01' }, ['patientId']],
      ['post', '/v1/access-requests', t.dr, { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }, ['emergency']],
    ];
    const seen: string[] = [];
    for (const [method, url, token, body, optional] of cases) {
      for (const field of optional) {
        const res = await http()[method](url).set(bearer(token)).send({ ...body, [field]: null });
        if (res.status >= 500) seen.push(`${method} ${url} ${field}: ${res.status}`);
      }
    }
    expect(seen).toEqual([]);
  });

  it('does not let a reason that shows nothing break the glass', async () => {
    const ask = { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'RESEARCH' };
    const blanks = ['\u3164'.repeat(20), '\u2800'.repeat(20), '\uffa0'.repeat(20), '\u115f\u1160'.repeat(10), `a${'\u0301'.repeat(19)}`, `${'\u115f'.repeat(15)}stroke`];
    for (const reason of blanks) await expect400('post', '/v1/access-requests', t.dr, { ...ask, emergency: { reason } });
    const glass = await http().post('/v1/access-requests').set(bearer(t.dr)).send({ ...ask, emergency: { reason: 'Schlaganfall, Vor-MRT dringend nötig' } }).expect(200);
    expect(glass.body).toMatchObject({ decision: 'PERMIT', emergency: true });
  });
});
