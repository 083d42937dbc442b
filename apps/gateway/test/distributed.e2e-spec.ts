import { type INestApplication } from '@nestjs/common';
import { createLogger, loadConfig } from '@custos/platform';
import { createTestDatabase, type TestDatabase, TEST_KEK } from '@custos/testing';
import request from 'supertest';
import { createGatewayApp } from './helpers.js';

describe('distributed mode: PostgreSQL and Kafka', () => {
  let pg: TestDatabase;
  beforeAll(async () => {
    pg = await createTestDatabase();
  });
  afterAll(async () => {
    await pg.drop();
  });

  it('is ready only with the database and Kafka, and says which is down', async () => {
    const config = loadConfig({ DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', LOG_LEVEL: 'silent' });
    expect(config.mode).toBe('distributed');
    const app: INestApplication = await createGatewayApp(config, createLogger('silent'));
    await app.init();
    try {
      const ready = await request(app.getHttpServer()).get('/health').expect(200);
      expect(ready.body.details).toMatchObject({ database: { status: 'up' }, kafka: { status: 'up' } });
    } finally {
      await app.close();
    }

    const noKafka = loadConfig({ DATABASE_URL: pg.url, KEK: TEST_KEK, KAFKA_BROKERS: '127.0.0.1:1', LOG_LEVEL: 'silent' });
    const degraded = await createGatewayApp(noKafka, createLogger('silent'));
    await degraded.init();
    try {
      const res = await request(degraded.getHttpServer()).get('/health').expect(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 503, code: 'not-ready', checks: { database: { status: 'up' }, kafka: { status: 'down' } } });
      await request(degraded.getHttpServer()).get('/health/live').expect(200);
    } finally {
      await degraded.close();
    }
  });
});
