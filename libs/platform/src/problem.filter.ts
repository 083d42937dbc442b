import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import { CustosError } from '@custos/errors';
import type { Logger } from 'pino';

/** RFC 9457 problem details, with Custos' stable `code` and the correlation id. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  correlationId: string;
  instance?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
const PROBLEM_BASE = 'https://custos.dev/problems/';

const HTTP_CODES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  406: 'not-acceptable',
  409: 'conflict',
  413: 'payload-too-large',
  414: 'path-too-long',
  415: 'unsupported-media-type',
  422: 'unprocessable',
  429: 'too-many-requests',
};

/** What the filter needs of Fastify's request and reply (kept structural: no HTTP framework here). */
export interface ReplyLike {
  readonly sent: boolean;
  code(status: number): ReplyLike;
  header(name: string, value: string): ReplyLike;
  send(body: string): unknown;
}

/** Maps every error to problem+json: typed Custos errors, Nest HTTP errors, and the unknown (500, logged). */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendProblem(exception, http.getRequest<{ id?: string; url?: string }>(), http.getResponse<ReplyLike>(), this.logger);
  }
}

/**
 * Answers `exception` as problem+json on `res`: what the filter does, and what an app's own
 * answer to an error Nest never sees (Fastify's router refusing a URL) does too.
 */
export function sendProblem(exception: unknown, req: { readonly id?: string; readonly url?: string }, res: ReplyLike, logger: Logger): void {
  const problem = problemOf(exception, String(req.id ?? ''), logger);
  problem.instance = (req.url ?? '').split('?')[0];
  if (res.sent) return;
  void res.code(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
}

/** The problem for any error; a 5xx is logged (message and stack only: bodies, possible PHI, never). */
function problemOf(exception: unknown, correlationId: string, logger: Logger): ProblemDetails {
  const problem = toProblem(exception, correlationId);
  if (problem.status >= 500) {
    const err = exception instanceof Error ? exception : new Error(String(exception));
    logger.error({ correlationId, err: { type: err.name, message: err.message, stack: err.stack } }, 'request failed');
  }
  return problem;
}

function toProblem(exception: unknown, correlationId: string): ProblemDetails {
  if (exception instanceof CustosError) {
    return {
      type: PROBLEM_BASE + exception.code,
      title: exception.title,
      status: exception.status,
      detail: exception.message,
      code: exception.code,
      correlationId,
      ...(exception.details ?? {}),
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const body = exception.getResponse();
    let detail = exception.message;
    let errors: unknown;
    if (typeof body === 'object' && body !== null && 'message' in body) {
      const message = (body as { message: unknown }).message;
      if (Array.isArray(message)) {
        errors = message;
        detail = message.join('; ');
      } else if (typeof message === 'string') {
        detail = message;
      }
    }
    // @nestjs/terminus answers 503 with per-dependency details: keep them as `checks`.
    const checks = typeof body === 'object' && body !== null && 'details' in body ? (body as { details: unknown }).details : undefined;
    if (checks) detail = 'One or more dependencies are not ready.';
    const code = checks
      ? 'not-ready'
      : status === 400 && errors
        ? 'validation-failed'
        : (HTTP_CODES[status] ?? (status >= 500 ? 'internal' : 'http-error'));
    return {
      type: PROBLEM_BASE + code,
      title: titleFor(status),
      status,
      detail,
      code,
      correlationId,
      ...(errors ? { errors } : {}),
      ...(checks ? { checks } : {}),
    };
  }
  // Fastify signals client errors (bodies it cannot parse, limits) with a statusCode and an FST_ code.
  const status = statusOf(exception);
  if (status !== undefined && status >= 400 && status < 500) {
    const code = HTTP_CODES[status] ?? 'bad-request';
    return {
      type: PROBLEM_BASE + code,
      title: titleFor(status),
      status,
      detail: (exception as Error).message,
      code,
      correlationId,
    };
  }
  return {
    type: PROBLEM_BASE + 'internal',
    title: 'Internal error',
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    detail: 'An unexpected error occurred; it has been logged with this correlation id.',
    code: 'internal',
    correlationId,
  };
}


function statusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const candidate = (e as { status?: unknown; statusCode?: unknown }).status ?? (e as { statusCode?: unknown }).statusCode;
  return typeof candidate === 'number' ? candidate : undefined;
}

function titleFor(status: number): string {
  const titles: Record<number, string> = {
    400: 'Invalid request',
    401: 'Authentication required',
    403: 'Forbidden',
    404: 'Not found',
    405: 'Method not allowed',
    409: 'Conflict',
    413: 'Payload too large',
    414: 'URI too long',
    415: 'Unsupported media type',
    503: 'Service unavailable',
  };
  return titles[status] ?? (status >= 500 ? 'Internal error' : 'Request error');
}
