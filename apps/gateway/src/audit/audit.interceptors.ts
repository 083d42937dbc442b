import { routeOf } from '@custos/runtime';
import { applyDecorators, type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor, SetMetadata, UseInterceptors } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AccessDeniedError, AccessRecorder, type AuditResource } from '@custos/access';
import { ForbiddenError } from '@custos/errors';
import { catchError, from, mergeMap, Observable, throwError } from 'rxjs';
import { type AuthenticatedRequest, callerOf } from '../auth/identity.decorator.js';

const AUDITED_READ = 'custos:audited-read';

interface AuditedReadSpec {
  readonly resourceType: AuditResource;
  /** How many items the answer holds. */
  readonly count: (result: unknown) => number;
}

/** The route's patient: in the path, or named as a search filter. */
function patientOf(req: AuthenticatedRequest): string | null {
  const fromPath = (req.params as Record<string, string | undefined>).patientId;
  if (fromPath) return fromPath;
  const q = (req.query as Record<string, unknown>).patientId;
  return typeof q === 'string' ? q : null;
}

function filtersOf(req: AuthenticatedRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) if (typeof v === 'string') out[k] = v.slice(0, 200);
  for (const [k, v] of Object.entries(req.params as Record<string, string>)) if (k !== 'patientId') out[k] = v.slice(0, 200);
  return out;
}

/**
 * Watching the watchers: a read of audit data is appended to the log (who, which route,
 * which patient or filters, how many items) after the query ran and before the answer goes
 * out. If the append fails, the answer is a 503: no audit read goes unrecorded.
 */
@Injectable()
export class AuditedReadInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    @Inject(AccessRecorder) private readonly recorder: AccessRecorder,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const spec = this.reflector.get<AuditedReadSpec | undefined>(AUDITED_READ, ctx.getHandler());
    if (!spec) return next.handle();
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    return next.handle().pipe(
      mergeMap(async (result: unknown) => {
        await this.recorder.auditRead(callerOf(req).context, {
          route: routeOf(req),
          resourceType: spec.resourceType,
          patientId: patientOf(req),
          filters: filtersOf(req),
          itemsReturned: spec.count(result),
          rule: req.grantedBy ?? 'permitted',
        });
        return result;
      }),
    );
  }
}

/** Marks a route as a read of audit data, recorded with its item count. */
export const AuditedRead = (resourceType: AuditResource, count: (result: unknown) => number) =>
  applyDecorators(SetMetadata(AUDITED_READ, { resourceType, count } satisfies AuditedReadSpec), UseInterceptors(AuditedReadInterceptor));

/** Counts `items` of an answer (a page, a list). */
export const itemsOf = (result: unknown): number => {
  const items = (result as { items?: unknown; entry?: unknown } | null)?.items ?? (result as { entry?: unknown } | null)?.entry;
  return Array.isArray(items) ? items.length : 1;
};

/**
 * A refusal a handler raises (a typed 403, e.g. separation of duties) is recorded like the
 * guard's, before it goes out. Decisions (AccessDeniedError) are recorded already.
 */
@Injectable()
export class RecordRefusalsInterceptor implements NestInterceptor {
  constructor(@Inject(AccessRecorder) private readonly recorder: AccessRecorder) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    return next.handle().pipe(
      catchError((e: unknown) => {
        if (!(e instanceof ForbiddenError) || e instanceof AccessDeniedError || !req.identity) return throwError(() => e);
        return from(
          this.recorder.routeDenied(callerOf(req).context, {
            method: req.method,
            route: routeOf(req),
            action: req.requirement?.action ?? 'unknown',
            subject: req.requirement?.subject ?? 'unknown',
            // A handler's refusal may name the patient (an annotation's) where the route does not.
            patientId: typeof e.details?.patientId === 'string' ? e.details.patientId : patientOf(req),
            rule: e.code,
          }),
        ).pipe(mergeMap(() => throwError(() => e)));
      }),
    );
  }
}
