import { loadConfig } from '@custos/platform';
import { createTestDatabase, TEST_KEK } from '@custos/testing';
import request from 'supertest';
import { boot, contractViolations, devToken, IMAGE } from './helpers.js';

describe('fail closed: with the database unreachable the gateway answers 503 and permits nothing', () => {
  it('turns a would-be PERMIT into 503 once the store is gone', async () => {
    const pg = await createTestDatabase();
    const app = await boot(loadConfig({ DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', AUTH_DEV_ISSUER: 'true', LOG_LEVEL: 'silent' }));
    try {
      const steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
      const clinician = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
      await request(app.getHttpServer()).post('/v1/images').set('authorization', `Bearer ${steward}`).send(IMAGE('img-1', 'p1')).expect(201);
      const ask = () => request(app.getHttpServer()).post('/v1/access-requests').set('authorization', `Bearer ${clinician}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' });
      await ask().expect(200);

      await pg.drop(); // every connection terminated, the database gone

      for (let i = 0; i < 5; i++) {
        const res = await ask();
        expect(res.status).toBe(503);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ code: 'store-unavailable' });
        expect(res.body.decision).toBeUndefined();
      }
      await request(app.getHttpServer()).get('/health').expect(503);
      expect(contractViolations(app)).toEqual([]); // close() may fail with the store gone: the contract is checked here
    } finally {
      await app.close().catch(() => undefined);
    }
  });
});
