import type { INestApplication } from '@nestjs/common';
import type { Principal } from '@custos/authz';
import { createLogger, type CustosConfig, loadConfig } from '@custos/platform';
import { claimsOf, image, migratedPgliteDir } from '@custos/testing';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { rmSync } from 'node:fs';
import request from 'supertest';
import type { Logger } from 'pino';
import { createGatewayApp as createUncheckedGatewayApp } from '../src/app.js';
import { contractChecker } from './contract.js';

const checkers = new WeakMap<INestApplication, ReturnType<typeof contractChecker>>();

/** The answers of an app from `createGatewayApp` that broke the contract so far. */
export function contractViolations(app: INestApplication): string[] {
  return checkers.get(app)?.violations ?? [];
}

/**
 * The gateway as `main` builds it, with every answer it gives checked against its own
 * /docs/openapi.json (status, content type, body schema, documented headers): `close()`
 * fails the spec that drove it if any answer broke the contract. Specs use this, never the
 * unchecked app, so the document cannot drift from what the server does.
 */
export async function createGatewayApp(config: CustosConfig, logger: Logger): Promise<INestApplication> {
  const unchecked = await createUncheckedGatewayApp(config, logger);
  const checker = contractChecker(unchecked);
  const close = async () => {
    await unchecked.close();
    checker.assertClean();
  };
  // Nest's app is a proxy that ignores assignments: wrap it to check at close.
  const app = new Proxy(unchecked, { get: (target, prop) => (prop === 'close' ? close : Reflect.get(target, prop)) });
  checkers.set(app, checker);
  return app;
}

/**
 * The gateway on an in-memory PGlite, dev issuer on: the embedded default, in a test. The
 * configuration is the in-memory one (keys held in memory, no key files); only the database is
 * a copy of a migrated PGlite folder (see `migratedPgliteDir`: no initdb and migrations per
 * boot), removed at `close()`. A `DATA_DIR` of the caller's is used as given.
 */
export async function bootEmbedded(env: Record<string, string> = {}): Promise<INestApplication> {
  const config = loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent', RELAY_POLL_MS: '10', ...env });
  if (config.database.kind !== 'pglite' || config.database.dataDir !== 'memory://') return boot(config);
  const dir = await migratedPgliteDir(ALL_MIGRATIONS, 'custos-e2e-');
  config.database = { kind: 'pglite', dataDir: dir };
  let app: INestApplication;
  try {
    app = await boot(config);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const close = async () => {
    try {
      await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const wrapped = new Proxy(app, { get: (target, prop) => (prop === 'close' ? close : Reflect.get(target, prop)) });
  const checker = checkers.get(app);
  if (checker) checkers.set(wrapped, checker);
  return wrapped;
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

/** A dev token for a principal from the shared factories (`principals.clinician()`, ...). */
export function tokenFor(app: INestApplication, principal: Principal): Promise<string> {
  return devToken(app, claimsOf(principal));
}

/**
 * GETs `path` until its `x-custos-projected-seq` reaches `sequence` (the API says how far its
 * read model is), then returns that answer; fails after `timeoutMs`.
 */
export async function getProjected(app: INestApplication, token: string, path: string, sequence: number, timeoutMs = 30_000): Promise<request.Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(app.getHttpServer()).get(path).set('authorization', `Bearer ${token}`).expect(200);
    if (Number(res.headers['x-custos-projected-seq']) >= sequence) return res;
    if (Date.now() > deadline) throw new Error(`${path}: projection did not reach ${sequence} (at ${String(res.headers['x-custos-projected-seq'])})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the read models have caught up with `sequence` (read through a patient's trail). */
export async function waitForProjection(app: INestApplication, token: string, patientId: string, sequence: number, timeoutMs = 30_000): Promise<void> {
  await getProjected(app, token, `/v1/patients/${patientId}/access-trail?limit=1`, sequence, timeoutMs);
}

/** An image to register (the shared factory's, in dataset ds-1). */
export const IMAGE = (imageId: string, patientId: string) => image({ imageId, patientId });
