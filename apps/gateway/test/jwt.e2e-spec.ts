import type { INestApplication } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@custos/platform';
import jose from 'node-jose';
import request from 'supertest';
import { createGatewayApp } from './helpers.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/**
 * JWT attacks against a gateway configured like production: an external issuer's JWKS (a
 * file here), the dev issuer off. Each must answer 401 problem+json.
 */
describe('JWT verification (strict)', () => {
  let app: INestApplication;
  let key: jose.JWK.Key;
  let stranger: jose.JWK.Key;
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over: Record<string, unknown> = {}) => ({ iss: 'https://idp.example', aud: 'custos', sub: 'sec-1', roles: ['security-officer'], iat: now(), exp: now() + 600, ...over });
  const sign = async (payload: object, k: jose.JWK.Key = key, alg = 'ES256') =>
    (await jose.JWS.createSign({ format: 'compact', fields: { alg, kid: k.kid, typ: 'JWT' } }, k).update(JSON.stringify(payload)).final()) as unknown as string;

  beforeAll(async () => {
    key = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig', kid: 'idp-key-1' });
    stranger = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig', kid: 'stranger' });
    const dir = mkdtempSync(join(tmpdir(), 'custos-jwks-'));
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [key.toJSON(false)] }));
    const config = loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent', AUTH_DEV_ISSUER: 'false', AUTH_ISSUER: 'https://idp.example', AUTH_AUDIENCE: 'custos', AUTH_JWKS_FILE: jwksFile, AUTH_CLOCK_SKEW_SECONDS: '30' });
    app = await createGatewayApp(config, createLogger('silent'));
    await app.init();
  });
  afterAll(async () => {
    await app.close();
  });

  const call = (token?: string) => {
    const r = request(app.getHttpServer()).get('/v1/audit/events');
    return token === undefined ? r : r.set('authorization', `Bearer ${token}`);
  };

  it('accepts a valid token', async () => {
    await call(await sign(claims())).expect(200);
  });

  it.each<[string, () => Promise<string | undefined>, string]>([
    ['no token', async () => undefined, 'token-missing'],
    ['garbage', async () => 'not.a.jwt', 'token-malformed'],
    ['alg: none', async () => `${b64({ alg: 'none', kid: 'idp-key-1', typ: 'JWT' })}.${b64(claims())}.`, 'token-algorithm-rejected'],
    [
      'HS256 signed with the public key (algorithm confusion)',
      async () => {
        const head = `${b64({ alg: 'HS256', kid: 'idp-key-1', typ: 'JWT' })}.${b64(claims())}`;
        const secret = JSON.stringify(key.toJSON(false));
        return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
      },
      'token-algorithm-rejected',
    ],
    ['expired', () => sign(claims({ exp: now() - 120 })), 'token-expired'],
    ['not yet valid', () => sign(claims({ nbf: now() + 600 })), 'token-not-yet-valid'],
    ['wrong issuer', () => sign(claims({ iss: 'https://evil.example' })), 'token-wrong-issuer'],
    ['wrong audience', () => sign(claims({ aud: 'someone-else' })), 'token-wrong-audience'],
    ['unknown kid', () => sign(claims(), stranger), 'token-unknown-key'],
    [
      'bad signature',
      async () => {
        const [h, p] = (await sign(claims())).split('.');
        const forged = await sign(claims({ roles: ['regulator'] }));
        return `${h}.${p}.${forged.split('.')[2]}`;
      },
      'token-bad-signature',
    ],
    ['payload swapped under a valid signature', async () => {
      const [h, , s] = (await sign(claims())).split('.');
      return `${h}.${b64(claims({ roles: ['admin'] }))}.${s}`;
    }, 'token-bad-signature'],
    ['unknown role', () => sign(claims({ roles: ['superuser'] })), 'token-bad-claims'],
    ['patient without patient_id', () => sign(claims({ roles: ['patient'] })), 'token-bad-claims'],
    ['no expiry', () => sign(claims({ exp: undefined })), 'token-malformed'],
  ])('rejects %s with 401 problem+json', async (_name, make, code) => {
    const res = await call(await make()).expect(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 401, code });
  });

  it('tolerates small clock skew on expiry', async () => {
    await call(await sign(claims({ exp: now() - 10 }))).expect(200);
  });

  it('has no dev token route when the dev issuer is off', async () => {
    await request(app.getHttpServer()).post('/v1/dev/tokens').send({ sub: 'x', roles: ['admin'] }).expect(404);
    const jwks = await request(app.getHttpServer()).get('/.well-known/jwks.json').expect(200);
    // Receipts (and checkpoints, once the log has signed one): no dev-issuer key.
    const kids = (jwks.body.keys as Array<{ kid: string }>).map((k) => k.kid);
    expect(kids.some((k) => k.startsWith('custos-receipts-'))).toBe(true);
    expect(kids.every((k) => /^custos-(receipts|checkpoints)-/.test(k))).toBe(true);
  });
});
