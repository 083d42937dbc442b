import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { UnauthenticatedError } from '@custos/errors';
import type { CommandContext } from '@custos/event-store';
import type { Identity } from '@custos/identity';
import type { HttpRequest, RouteRequirement } from '@custos/runtime';

export type AuthenticatedRequest = HttpRequest & { identity?: Identity; grantedBy?: string; requirement?: RouteRequirement };

/** The verified caller, and the command context (actor, correlation id) events record. */
export interface CallerContext {
  readonly principal: Identity;
  readonly context: CommandContext;
}

export function callerOf(req: AuthenticatedRequest): CallerContext {
  const identity = req.identity;
  if (!identity) throw new UnauthenticatedError('no identity on this request');
  return {
    principal: identity,
    context: {
      actor: { id: identity.sub, roles: [...identity.roles], ...(identity.patientId ? { patientId: identity.patientId } : {}), ...(identity.org ? { org: identity.org } : {}) },
      correlationId: req.id,
    },
  };
}

export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): CallerContext => callerOf(ctx.switchToHttp().getRequest<AuthenticatedRequest>()));
