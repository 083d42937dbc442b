import { ValidationPipe } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { ProblemFilter, registered } from '@custos/platform';
import { checkInput } from './input-guard.js';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Histogram } from 'prom-client';

const CORRELATION_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The HTTP edge every Custos app shares: a correlation id on every request (taken from
 * `x-correlation-id` when well-formed, else made) echoed in the response; pino JSON access
 * logs without bodies or query strings; DTO validation; RFC 9457 problem+json for every error; OpenAPI at /docs.
 */
export function configureHttp(app: NestExpressApplication, logger: Logger): void {
  const requests = httpMetrics();
  // Correlation id and access log. (pino-http built a child logger and serialised the request
  // on every call, ~10% of a decision's CPU even with request logging off; this does only
  // what is needed: the id, and one line per request when info is enabled.)
  const accessLog = logger.isLevelEnabled('info') || logger.isLevelEnabled('error');
  app.use((req: IncomingMessage & { id?: string }, res: ServerResponse, next: () => void) => {
    const given = req.headers['x-correlation-id'];
    const id = typeof given === 'string' && CORRELATION_ID.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('x-correlation-id', id);
    if (accessLog) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const line = {
          // The route template, never the path: paths carry patient ids, queries carry filters.
          req: { id, method: req.method, route: routeLabel(req) },
          res: { statusCode: res.statusCode },
          responseTime: Number(process.hrtime.bigint() - started) / 1e6,
        };
        if (res.statusCode >= 500) logger.error(line, 'request failed');
        else logger.info(line, 'request completed');
      });
    }
    next();
  });
  app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const end = requests.duration.startTimer();
    res.on('finish', () => {
      const route = routeLabel(req);
      end({ method: req.method ?? 'GET', route, status: String(res.statusCode) });
      requests.total.inc({ method: req.method ?? 'GET', route, status: String(res.statusCode) });
    });
    next();
  });
  // JSON bodies (1 MB at most), then the input guard, before anything transforms them.
  app.useBodyParser('json', { limit: '1mb' });
  app.use((req: IncomingMessage & { body?: unknown; query?: unknown }, _res: ServerResponse, next: (e?: unknown) => void) => {
    try {
      checkInput(req.body, 'request body');
      checkInput(req.query, 'query string');
      next();
    } catch (e) {
      next(e);
    }
  });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.useGlobalFilters(new ProblemFilter(logger));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Custos')
      .setDescription('Governance and audit backend for medical-imaging AI data. Errors are RFC 9457 application/problem+json.')
      .setVersion('0.1.0')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
}

/** The matched route pattern (never the raw path, which would carry ids) for metric labels. */
function routeLabel(req: IncomingMessage): string {
  const route = (req as IncomingMessage & { route?: { path?: string } }).route?.path;
  return route ?? 'unmatched';
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
