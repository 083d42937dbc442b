import { HttpException, MethodNotAllowedException, NotFoundException, ValidationPipe, type ValidationPipeOptions } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ValidationError } from '@custos/errors';
import { ProblemFilter, registered, sendProblem } from '@custos/platform';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ValidationError as ClassValidatorError } from 'class-validator';
import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';
import { checkInput } from './input-guard.js';

const CORRELATION_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Largest request body any route accepts. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Longest path parameter the router matches: above every id a route takes (actor ids are up to
 * 200 characters, more once percent-encoded), so a long id reaches the route's validation (400
 * with the parameter's rule) rather than the router. Longer ones are 414 `path-too-long`.
 */
export const MAX_PARAM_LENGTH = 1000;

/**
 * What the router answers itself, before any hook or filter runs (a path parameter longer than
 * MAX_PARAM_LENGTH: 414; a URL it cannot decode: 400): problem+json with a code and the
 * correlation id, like every other error, rather than Fastify's own JSON.
 */
export function routerErrors(logger: Logger): (error: FastifyError, req: FastifyRequest, reply: FastifyReply) => void {
  return (error, req, reply) => {
    void reply.header('x-correlation-id', req.id);
    sendProblem(error, req, reply, logger);
  };
}

/** The request as routes, guards and interceptors see it (Fastify's, with string params). */
export type HttpRequest = FastifyRequest<{ Params: Record<string, string | undefined>; Querystring: Record<string, unknown> }>;
export type HttpReply = FastifyReply;

/** The request's correlation id: `x-correlation-id` when well-formed, else a new UUID (Fastify's request id). */
export function correlationIdOf(req: IncomingMessage): string {
  const given = req.headers['x-correlation-id'];
  return typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID();
}

/** The matched route pattern (never the raw path, which would carry ids), for logs, metrics and the record. */
export function routeOf(req: FastifyRequest): string {
  return req.routeOptions?.url ?? 'unmatched';
}

/**
 * The HTTP edge every Custos app shares, on Fastify: a correlation id on every request
 * (Fastify's request id, taken from `x-correlation-id` when well-formed) echoed in the
 * response; one JSON access-log line per request with the route template, never the path or
 * the query; JSON bodies only, 1 MB at most, checked by the input guard before any
 * transformation; DTO validation; RFC 9457 problem+json for every error, including those
 * Fastify raises itself (unparsable or oversized bodies, unsupported media types); a method a
 * known path does not take is a 405 with `Allow`; OpenAPI at /docs.
 */
export function configureHttp(app: NestFastifyApplication, logger: Logger, documentOf: (app: NestFastifyApplication) => OpenAPIObject): void {
  const fastify = app.getHttpAdapter().getInstance();
  const requests = httpMetrics();
  const accessLog = logger.isLevelEnabled('info') || logger.isLevelEnabled('error');
  const methods = methodsByPath();
  fastify.removeContentTypeParser(['text/plain']); // JSON only: anything else is a 415
  // FHIR's JSON media type is JSON, parsed by the same parser (the input guard and DTOs follow).
  fastify.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, fastify.getDefaultJsonParser('ignore', 'ignore'));
  fastify.addHook('onRoute', (route) => methods.add(route.url, route.method));
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-correlation-id', req.id);
    if (req.routeOptions.url === undefined) {
      // No route for this method and path: if the path exists under other methods, say which (RFC 9110 §15.5.6).
      const allowed = methods.of((req.url ?? '').split('?')[0] ?? '');
      if (allowed.length > 0) {
        void reply.header('allow', allowed.join(', '));
        done(new MethodNotAllowedException(`${req.method} is not allowed here; allowed: ${allowed.join(', ')}`));
        return;
      }
    }
    done();
  });
  fastify.addHook('preValidation', (req, _reply, done) => {
    try {
      if (Buffer.isBuffer(req.body)) {
        // Bytes a route's own parser took (STOW-RS): the route checks them; only the query is guarded here.
        checkInput(req.query, 'query string');
        done();
        return;
      }
      if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null)) {
        throw new ValidationError('the request body must be a JSON object', undefined, 'body-not-object');
      }
      checkInput(req.body, 'request body');
      checkInput(req.query, 'query string');
      done();
    } catch (e) {
      done(e as Error);
    }
  });
  fastify.addHook('onResponse', (req, reply, done) => {
    const route = routeOf(req);
    const status = String(reply.statusCode);
    requests.duration.observe({ method: req.method, route, status }, reply.elapsedTime / 1000);
    requests.total.inc({ method: req.method, route, status });
    if (accessLog) {
      const line = { req: { id: req.id, method: req.method, route }, res: { statusCode: reply.statusCode }, responseTime: reply.elapsedTime };
      if (reply.statusCode >= 500) logger.error(line, 'request failed');
      else logger.info(line, 'request completed');
    }
    done();
  });
  // Errors Fastify raises before a route runs (body parsing, limits, hooks) reach Nest's own
  // Fastify error handler, which hands them to the same ProblemFilter.
  app.useGlobalPipes(new CodedValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.useGlobalFilters(new ProblemFilter(logger));
  const document = documentOf(app);
  documents.set(app, document);
  // The document from Nest; the UI's three files straight from swagger-ui-dist (Nest's own UI
  // serving needs @fastify/static, whose current major cannot load under Jest: see docs/architecture.md).
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json', swaggerUiEnabled: false });
  const assets = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const files: Record<string, string> = { 'swagger-ui.css': 'text/css', 'swagger-ui-bundle.js': 'text/javascript', 'swagger-ui-standalone-preset.js': 'text/javascript' };
  fastify.get('/docs', (_req, reply) => {
    void reply.header('content-type', 'text/html; charset=utf-8').send(DOCS_PAGE);
  });
  fastify.get<{ Params: { file: string } }>('/docs/:file', (req, reply) => {
    const type = Object.hasOwn(files, req.params.file) ? files[req.params.file] : undefined;
    if (!type) throw new NotFoundException(`no document ${req.params.file}`);
    void reply.header('content-type', type).header('cache-control', 'public, max-age=86400').send(createReadStream(join(assets, req.params.file)));
  });
}

/**
 * Nest's ValidationPipe, with one addition: a DTO rule may name the problem code its failure
 * answers with, as `context: { code }` (`@ArrayMinSize(1, { context: { code: 'bad-categories' } })`).
 * When every failing rule of a request names the same code, the answer carries it; otherwise
 * (several codes, or a rule without one) it is `validation-failed`. The messages are the same.
 */
export class CodedValidationPipe extends ValidationPipe {
  constructor(options: ValidationPipeOptions) {
    super(options);
  }

  override createExceptionFactory(): (errors?: ClassValidatorError[]) => unknown {
    const base = super.createExceptionFactory();
    return (errors: ClassValidatorError[] = []) => {
      const exception = base(errors);
      const code = codeOfFailures(errors);
      if (!code || !(exception instanceof HttpException)) return exception;
      const body = exception.getResponse();
      const messages = typeof body === 'object' && body !== null && Array.isArray((body as { message?: unknown }).message) ? ((body as { message: unknown[] }).message as unknown[]).map(String) : [exception.message];
      return new ValidationError(messages.join('; '), { errors: messages }, code);
    };
  }
}

/** The one code every failing rule names (through `context.code`), if they all name the same. */
export function codeOfFailures(errors: readonly ClassValidatorError[]): string | undefined {
  const codes = new Set<string | undefined>();
  const visit = (list: readonly ClassValidatorError[]) => {
    for (const e of list) {
      for (const rule of Object.keys(e.constraints ?? {})) {
        const code = (e.contexts?.[rule] as { code?: unknown } | undefined)?.code;
        codes.add(typeof code === 'string' ? code : undefined);
      }
      visit(e.children ?? []);
    }
  };
  visit(errors);
  const [only] = codes;
  return codes.size === 1 ? only : undefined;
}

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Custos API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#swagger-ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });</script>
</body></html>
`;

const documents = new WeakMap<object, OpenAPIObject>();

/** The OpenAPI document an app serves at /docs/openapi.json (for tools and tests that check answers against it). */
export function servedDocument(app: object): OpenAPIObject | undefined {
  return documents.get(app);
}

/** The methods each registered path pattern takes, to answer 405 with `Allow` where a path exists. */
function methodsByPath(): { add(url: string, method: string | string[]): void; of(path: string): string[] } {
  const patterns = new Map<string, { re: RegExp; methods: Set<string> }>();
  return {
    add(url, method) {
      let entry = patterns.get(url);
      if (!entry) {
        const re = new RegExp(`^${url.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`);
        patterns.set(url, (entry = { re, methods: new Set() }));
      }
      for (const m of [method].flat()) entry.methods.add(m.toUpperCase());
    },
    of(path) {
      const allowed = new Set<string>();
      for (const { re, methods } of patterns.values()) if (re.test(path)) for (const m of methods) allowed.add(m);
      return [...allowed].sort();
    },
  };
}

function httpMetrics(): { total: Counter; duration: Histogram } {
  return {
    total: registered('custos_http_requests_total', () => new Counter({ name: 'custos_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'] })),
    duration: registered(
      'custos_http_request_seconds',
      () =>
        new Histogram({
          name: 'custos_http_request_seconds',
          help: 'HTTP request duration',
          labelNames: ['method', 'route', 'status'],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
        }),
    ),
  };
}
