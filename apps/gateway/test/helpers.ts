import type { INestApplication } from '@nestjs/common';
import { createLogger, type CustosConfig, loadConfig } from '@custos/platform';
import request from 'supertest';
import { createGatewayApp } from '../src/app.js';

/** The gateway on an in-memory PGlite, dev issuer on: the embedded default, in a test. */
export async function bootEmbedded(env: Record<string, string> = {}): Promise<INestApplication> {
  return boot(loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent', RELAY_POLL_MS: '10', ...env }));
}

export async function boot(config: CustosConfig): Promise<INestApplication> {
  const app = await createGatewayApp(config, createLogger('silent'));
  await app.init();
  return app;
}

export async function devToken(app: INestApplication, claims: { sub: string; roles: string[]; patient_id?: string; credentials?: readonly string[] }): Promise<string> {
  const res = await request(app.getHttpServer()).post('/v1/dev/tokens').send(claims).expect(201);
  return (res.body as { token: string }).token;
}

/** Waits until the read models have caught up with `sequence` (the API says how far they are). */
export async function waitForProjection(app: INestApplication, token: string, patientId: string, sequence: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(app.getHttpServer()).get(`/v1/patients/${patientId}/access-trail?limit=1`).set('authorization', `Bearer ${token}`);
    if (Number(res.headers['x-custos-projected-seq']) >= sequence) return;
    if (Date.now() > deadline) throw new Error(`projection did not reach ${sequence}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const IMAGE = (imageId: string, patientId: string) => ({
  imageId,
  patientId,
  modality: 'CT',
  bodySite: 'chest',
  datasetId: 'ds-1',
  demographics: { sex: 'F', birthYear: 1970, ethnicity: 'unknown' },
});
