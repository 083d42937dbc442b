import type { INestApplication } from '@nestjs/common';
import { Ajv, type ValidateFunction } from 'ajv';
import * as formatsModule from 'ajv-formats';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { servedDocument } from '@custos/runtime';

type Schema = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Schema }>; headers?: Record<string, unknown> }>;
}

/** Headers the gateway sets on purpose: an answer carrying one must say so in the document. */
const DOCUMENTED_HEADERS = ['etag', 'x-custos-projected-seq', 'x-custos-next-after', 'x-custos-export-events', 'allow'];
/** Served beside the API, not part of it. */
const OUTSIDE = /^\/(docs|metrics)(\/|$)/;

// ajv-formats is CommonJS with a default export: under ESM its plugin is the module's default.
const addFormats = ((formatsModule as unknown as { default?: unknown }).default ?? formatsModule) as (ajv: Ajv) => Ajv;

/**
 * Checks every answer of a Nest/Fastify app against the OpenAPI document it serves: the status
 * is documented for the operation, the content type is one it declares, a JSON body matches the
 * schema, NDJSON lines are JSON, and the headers Custos sets on purpose are declared. An
 * unmatched route must answer problem+json. Violations are collected (a test's own assertions
 * still run) and reported by `assertClean`.
 */
export function contractChecker(app: INestApplication): { assertClean(): void; violations: string[] } {
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  const violations: string[] = [];
  let document: { paths: Record<string, Record<string, Operation>>; ajv: Ajv } | undefined;
  const compiled = new Map<string, ValidateFunction>();
  fastify.addHook('onSend', async (req, reply, payload) => {
    try {
      check(req, reply, payload);
    } catch (e) {
      violations.push(`${req.method} ${req.url}: the contract check itself failed: ${(e as Error).message}`);
    }
    return payload;
  });
  function check(req: FastifyRequest, reply: FastifyReply, payload: unknown): void {
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (OUTSIDE.test(path) || req.method === 'HEAD') return;
    document ??= (() => {
      const served = servedDocument(app);
      if (!served) throw new Error('the app serves no OpenAPI document');
      const doc = JSON.parse(JSON.stringify(served)) as { paths: Record<string, Record<string, Operation>> };
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addSchema(doc as unknown as Schema, 'openapi.json');
      return { paths: doc.paths, ajv };
    })();
    const { paths, ajv } = document;
    const status = reply.statusCode;
    const type = String(reply.getHeader('content-type') ?? '').split(';')[0]!.trim();
    const route = req.routeOptions.url;
    const where = `${req.method} ${route ?? path} → ${status} (correlation id ${req.id})`;
    const fail = (why: string) => violations.push(`${where}: ${why}`);
    if (route === undefined) {
      if (type !== 'application/problem+json') fail(`an unmatched route answered ${type || 'no content type'}, not problem+json`);
      return;
    }
    const docPath = route.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const operation = paths[docPath]?.[req.method.toLowerCase()];
    if (!operation) {
      fail('the route is not in the document');
      return;
    }
    const key = String(status);
    const response = operation.responses[key] ?? operation.responses[`${key[0]}XX`] ?? operation.responses.default;
    if (!response) {
      fail(`status ${status} is not documented (documented: ${Object.keys(operation.responses).join(', ')})`);
      return;
    }
    const declared = Object.keys(response.headers ?? {}).map((h) => h.toLowerCase());
    for (const h of DOCUMENTED_HEADERS) if (reply.hasHeader(h) && !declared.includes(h)) fail(`header ${h} is not documented`);
    const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
    if (!response.content) {
      if (text) fail(`a body (${type}) where the document declares none`);
      return;
    }
    const media = response.content[type];
    if (!media) {
      fail(`content type ${type || '(none)'} is not documented (documented: ${Object.keys(response.content).join(', ')})`);
      return;
    }
    if (text === undefined) return; // a stream (the export bundle): its content type was checked
    if (type === 'application/x-ndjson') {
      for (const line of text.split('\n').filter(Boolean)) {
        try {
          JSON.parse(line);
        } catch {
          fail('an NDJSON line is not JSON');
          break;
        }
      }
      return;
    }
    if (!/json$/.test(type) || !media.schema) return;
    const pointer = `openapi.json#/paths/${escape(docPath)}/${req.method.toLowerCase()}/responses/${key in operation.responses ? key : 'default'}/content/${escape(type)}/schema`;
    let validate = compiled.get(pointer);
    if (!validate) compiled.set(pointer, (validate = ajv.compile({ $ref: pointer })));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      fail('the body is not JSON');
      return;
    }
    if (!validate(body)) fail(`the body does not match the schema: ${ajv.errorsText(validate.errors, { dataVar: 'body' })}${problemCode(body)}`);
  }
  return {
    violations,
    assertClean() {
      if (violations.length > 0) throw new Error(`${violations.length} answer(s) broke the OpenAPI contract:\n${[...new Set(violations.map((v) => v.replace(/ \(correlation id [^)]*\)/, '')))].join('\n')}`);
    },
  };
}

function escape(segment: string): string {
  return encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));
}

function problemCode(body: unknown): string {
  const code = typeof body === 'object' && body !== null ? (body as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? ` (code ${code})` : '';
}
