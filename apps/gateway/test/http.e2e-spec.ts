import { type INestApplication } from '@nestjs/common';
import { createLogger, loadConfig } from '@custos/platform';
import request from 'supertest';
import { createGatewayApp, devToken } from './helpers.js';

describe('gateway HTTP edge (embedded, PGlite in memory)', () => {
  let app: INestApplication;

  beforeAll(async () => {
    const config = loadConfig({ DATA_DIR: 'memory://', LOG_LEVEL: 'silent' });
    config.database = { kind: 'pglite', dataDir: 'memory://' };
    app = await createGatewayApp(config, createLogger('silent'));
    await app.init();
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers liveness and readiness with the database up', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
    const ready = await request(app.getHttpServer()).get('/health').expect(200);
    expect(ready.body.details.database.status).toBe('up');
  });

  it('serves Prometheus metrics', async () => {
    const res = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.text).toContain('process_cpu_seconds_total');
  });

  it('serves the OpenAPI document', async () => {
    const res = await request(app.getHttpServer()).get('/docs/openapi.json').expect(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/health', '/health/live']));
    const ui = await request(app.getHttpServer()).get('/docs').expect(200);
    expect(ui.text).toContain('/docs/openapi.json');
    await request(app.getHttpServer()).get('/docs/swagger-ui-bundle.js').expect(200).expect('content-type', /javascript/);
    for (const other of ['/docs/..%2fpackage.json', '/docs/index.html', '/docs/swagger-ui-bundle.js.map']) await request(app.getHttpServer()).get(other).expect(404);
  });

  it('answers an unknown route with problem+json carrying the correlation id it was given', async () => {
    const res = await request(app.getHttpServer()).get('/v1/nothing-here').set('x-correlation-id', 'corr-abc-123').expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['x-correlation-id']).toBe('corr-abc-123');
    expect(res.body).toMatchObject({ status: 404, code: 'not-found', correlationId: 'corr-abc-123', instance: '/v1/nothing-here' });
    expect(res.body.type).toMatch(/^https:\/\//);
  });

  it('replaces a malformed correlation id with a fresh one', async () => {
    const res = await request(app.getHttpServer()).get('/health/live').set('x-correlation-id', 'bad id with spaces');
    expect(res.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers malformed JSON with 400 problem+json, not a 500', async () => {
    const res = await request(app.getHttpServer()).post('/v1/dev/tokens').set('content-type', 'application/json').send('{"broken": ').expect(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, code: 'bad-request' });
  });

  it('answers bodies it will not take with a 4xx problem: too large (413), not JSON (415), not an object (400)', async () => {
    const post = () => request(app.getHttpServer()).post('/v1/dev/tokens');
    const big = await post().set('content-type', 'application/json').send(JSON.stringify({ sub: 'x'.repeat(1_100_000), roles: ['clinician'] })).expect(413);
    expect(big.headers['content-type']).toMatch(/^application\/problem\+json/);
    for (const [type, body] of [['text/plain', 'sub=x'], ['application/x-www-form-urlencoded', 'sub=x&roles=clinician']] as const) {
      const r = await post().set('content-type', type).send(body).expect(415);
      expect(r.body).toMatchObject({ status: 415, code: 'unsupported-media-type' });
    }
    for (const body of ['123', 'null', '"text"', 'true']) {
      const r = await post().set('content-type', 'application/json').send(body).expect(400);
      expect(r.body).toMatchObject({ status: 400 });
    }
  });

  it('answers a method a known path does not take with 405 and Allow, an unknown path still with 404', async () => {
    const server = app.getHttpServer();
    const post = await request(server).post('/health').set('content-type', 'application/json').send('{}').expect(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(post.body).toMatchObject({ status: 405, code: 'method-not-allowed' });
    const del = await request(server).delete('/v1/images/img-1').expect(405);
    expect(del.headers.allow).toBe('GET, HEAD');
    const patch = await request(server).patch('/v1/patients/p-1/consents/RESEARCH').send({}).expect(405);
    expect(patch.headers.allow).toBe('DELETE, PUT');
    const get = await request(server).get('/v1/dev/tokens').expect(405);
    expect(get.headers.allow).toBe('POST');
    await request(server).get('/v1/images/img-1/nothing').expect(404);
    await request(server).post('/v1/images/').expect(404); // a trailing slash is another path, as Fastify routes it
  });

  it('refuses a __proto__ or constructor key anywhere in a body or query with 400 forbidden-key, not "not valid JSON"', async () => {
    const post = (body: string) => request(app.getHttpServer()).post('/v1/dev/tokens').set('content-type', 'application/json').send(body);
    for (const body of ['{"__proto__": {"admin": true}, "sub": "x", "roles": ["admin"]}', '{"sub": "x", "roles": ["admin"], "ttlSeconds": 60, "credentials": [{"__proto__": {}}]}', '{"constructor": {"prototype": {"admin": true}}, "sub": "x", "roles": ["admin"]}']) {
      const res = await post(body).expect(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 400, code: 'forbidden-key' });
      expect(res.body.detail).not.toMatch(/JSON/);
    }
    const query = await request(app.getHttpServer()).get('/health/live?__proto__=1').expect(400);
    expect(query.body).toMatchObject({ code: 'forbidden-key' });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    // "constructor" as plain data got past the DTO whitelist (201) before this rule
    const plain = await post('{"sub": "x", "roles": ["admin"], "constructor": "a"}').expect(400);
    expect(plain.body).toMatchObject({ code: 'forbidden-key', key: 'constructor' });
  });

  it('answers a path parameter longer than any id with problem+json: 400 from its rule up to the router\'s limit, 414 path-too-long above it', async () => {
    const token = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    const get = (path: string) => request(app.getHttpServer()).get(path).set('authorization', `Bearer ${token}`).set('x-correlation-id', 'corr-long-1');
    for (const [path, status, code] of [
      [`/v1/patients/${'p'.repeat(300)}/access-trail`, 400, 'validation-failed'],
      [`/v1/incidents/inc-${'x'.repeat(300)}`, 400, 'validation-failed'],
      [`/v1/patients/${'p'.repeat(1001)}/access-trail`, 414, 'path-too-long'],
      [`/v1/patients/${'p'.repeat(5000)}/access-trail`, 414, 'path-too-long'],
    ] as const) {
      const res = await get(path);
      expect([path.length, res.status, res.body.code]).toEqual([path.length, status, code]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-correlation-id']).toBe('corr-long-1');
      expect(res.body).toMatchObject({ status, correlationId: 'corr-long-1' });
    }
    // An actor id of 150 characters (its rule allows 200; the router's former limit was 100) reaches its route.
    const admin = await devToken(app, { sub: 'admin-1', roles: ['admin'] });
    const workforce = { familyName: 'Doe', address: '1 Main St', department: 'ICU', status: 'active', since: '2020-01-01' };
    await request(app.getHttpServer()).put(`/v1/workforce/${'a'.repeat(150)}`).set('authorization', `Bearer ${admin}`).send(workforce).expect(200);
  });

  it('does not advertise its framework', async () => {
    const res = await request(app.getHttpServer()).get('/health/live');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});
