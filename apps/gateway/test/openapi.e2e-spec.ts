import type { INestApplication } from '@nestjs/common';
import { readdirSync, readFileSync } from 'node:fs';
import request from 'supertest';
import { OPERATION_IDS } from '../src/openapi.js';
import { bootEmbedded } from './helpers.js';

type Schema = Record<string, unknown>;
interface Operation extends Schema {
  operationId: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Schema[];
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }>;
}
interface Document {
  openapi: string;
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** The document a client generator takes: one dialect, servers, security, names, headers, request schemas as enforced. */
describe('the OpenAPI document (/docs/openapi.json)', () => {
  let app: INestApplication;
  let doc: Document;
  const operations = () => Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));
  const op = (id: string) => operations().find((o) => o.op.operationId === id)!.op;

  beforeAll(async () => {
    app = await bootEmbedded();
    doc = (await request(app.getHttpServer()).get('/docs/openapi.json').expect(200)).body as Document;
  });
  afterAll(async () => {
    await app.close();
  });

  it('is one dialect, OpenAPI 3.0, with no 3.1 type arrays, and names a server', () => {
    expect(doc.openapi).toBe('3.0.3');
    const arrays: string[] = [];
    const walk = (n: unknown, at: string) => {
      if (Array.isArray(n)) n.forEach((v, i) => walk(v, `${at}/${i}`));
      else if (n && typeof n === 'object') {
        if (Array.isArray((n as Schema).type)) arrays.push(at);
        for (const [k, v] of Object.entries(n)) walk(v, `${at}/${k}`);
      }
    };
    walk(doc, '#');
    expect(arrays).toEqual([]);
    expect(doc.servers.length).toBeGreaterThan(0);
  });

  it('names every operation from the table: readable, unique, never a class name', () => {
    const ids = operations().map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, op: o } of operations()) expect([`${method.toUpperCase()} ${path}`, o.operationId]).toEqual([expect.any(String), OPERATION_IDS[`${method.toUpperCase()} ${path}`]]);
    expect(ids.filter((id) => /Controller/.test(id))).toEqual([]);
  });

  it('says which routes are public (security: []) and which need a bearer token, as the server behaves', async () => {
    const server = app.getHttpServer();
    const publicIds = operations().filter((o) => o.op.security?.length === 0).map((o) => o.op.operationId);
    expect(publicIds.sort()).toEqual(['getJwks', 'getLiveness', 'getReadiness', 'issueDevToken']);
    for (const { path, method, op: o } of operations()) {
      const url = path.replace(/\{[^}]+\}/g, '0b0e3c4d-1a2b-4c5d-8e9f-0123456789ab');
      const res = await request(server)[method as 'get'](url);
      if (o.security?.length === 0) expect([o.operationId, res.status]).not.toEqual([o.operationId, 401]);
      else {
        expect(o.security).toEqual([{ bearer: [] }]);
        expect([o.operationId, res.status]).toEqual([o.operationId, 401]);
      }
    }
  });

  it('describes request bodies as the validators enforce them: unknown fields refused, required, patterns, enums, bounds (DevTokenDto included)', () => {
    const dev = doc.components.schemas.DevTokenDto!;
    expect(dev).toMatchObject({ type: 'object', additionalProperties: false, required: ['sub', 'roles'] });
    expect(dev.properties).toMatchObject({
      sub: { type: 'string', pattern: '^[A-Za-z0-9._@:-]{1,200}$' },
      roles: { type: 'array', minItems: 1, maxItems: 9, items: { type: 'string', enum: expect.arrayContaining(['clinician', 'admin']) } },
      ttlSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
    });
    expect(doc.components.schemas.RegisterImageDto!.properties).toMatchObject({ demographics: { $ref: '#/components/schemas/DemographicsDto' } });
    expect(doc.components.schemas.DemographicsDto).toMatchObject({ additionalProperties: false, properties: { birthYear: { type: 'integer', minimum: 1880, maximum: 2100 } } });
    for (const { op: o } of operations()) {
      const ref = o.requestBody?.content['application/json']?.schema.$ref as string | undefined;
      if (!ref) continue;
      const schema = doc.components.schemas[ref.split('/').pop()!]!;
      expect([o.operationId, schema.additionalProperties]).toEqual([o.operationId, false]);
    }
    // The geometry (stored in clear) is one of three shapes, each with only its keys.
    for (const dto of ['AnnotationDto', 'AnnotationEditDto']) {
      const shapes = (doc.components.schemas[dto]!.properties as Record<string, Schema>).geometry!.oneOf as Schema[];
      expect([dto, shapes.map((g) => [g.title, g.additionalProperties])]).toEqual([dto, [['bbox', false], ['polygon', false], ['mask', false]]]);
    }
    expect(doc.components.schemas.ConsentChangeDto!.properties).toMatchObject({ categories: { type: 'array', minItems: 1 } });
    const trail = op('getAccessTrail').parameters!;
    expect(trail.find((p) => p.name === 'limit')).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000 } });
    expect(trail.find((p) => p.name === 'patientId')).toMatchObject({ in: 'path', required: true, schema: { pattern: '^[A-Za-z0-9._-]{1,100}$' } });
  });

  it('documents the headers: If-Match where read (required where 428 is possible), ETag, x-correlation-id, x-custos-projected-seq, x-custos-next-after', () => {
    const ifMatch = (id: string) => op(id).parameters!.find((p) => p.name === 'If-Match');
    expect(ifMatch('editAnnotation')).toMatchObject({ in: 'header', required: true });
    expect(ifMatch('deleteAnnotation')).toMatchObject({ in: 'header', required: true });
    expect(ifMatch('changeConsent')).toMatchObject({ in: 'header', required: false });
    expect(ifMatch('configureDataset')).toMatchObject({ in: 'header', required: false });
    expect(ifMatch('getConsents')).toBeUndefined();
    expect(op('getConsents').responses['200']!.headers).toHaveProperty('ETag');
    expect(op('editAnnotation').responses['200']!.headers).toHaveProperty('ETag');
    expect(op('getAccessTrail').responses['200']!.headers).toHaveProperty('x-custos-projected-seq');
    expect(op('getSiemEvents').responses['200']!.headers).toHaveProperty('x-custos-next-after');
    for (const { op: o } of operations()) {
      expect(o.parameters).toContainEqual({ $ref: '#/components/parameters/CorrelationId' });
      for (const r of Object.values(o.responses)) expect(r.headers).toHaveProperty('x-correlation-id');
    }
  });

  it('declares NDJSON answers as application/x-ndjson, and lists the problems every route with a body can get', () => {
    for (const id of ['getSiemEvents', 'exportIncident']) expect(Object.keys(op(id).responses['200']!.content!)).toEqual(['application/x-ndjson']);
    const codes = (o: Operation, status: string): string[] => {
      const parts = o.responses[status]?.content?.['application/problem+json']?.schema.allOf as Array<{ properties?: { code?: { enum?: string[] } } }> | undefined;
      return parts?.[1]?.properties?.code?.enum ?? [];
    };
    for (const { method, op: o } of operations()) {
      if (!['post', 'put', 'delete'].includes(method)) continue;
      expect([o.operationId, codes(o, '400')]).toEqual([o.operationId, expect.arrayContaining(['bad-request', 'validation-failed', 'forbidden-key'])]);
      expect([o.operationId, codes(o, '415')]).toEqual([o.operationId, ['unsupported-media-type']]);
      expect([o.operationId, codes(o, '413')]).toEqual([o.operationId, ['payload-too-large']]);
    }
    for (const { path, op: o } of operations()) if (path.includes('{')) expect([o.operationId, codes(o, '414')]).toEqual([o.operationId, ['path-too-long']]);
  });

  it('is checked against every answer of every gateway e2e spec: none builds the app without the check', () => {
    const dir = new URL('.', import.meta.url);
    const unchecked = readdirSync(dir).filter((f) => f.endsWith('.e2e-spec.ts') && /from '\.\.\/src\/app\.js'/.test(readFileSync(new URL(f, dir), 'utf8')));
    expect(unchecked).toEqual([]);
  });
});
