import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { CommandContext } from '@custos/access';
import { UnauthenticatedError } from '@custos/errors';
import type { AuthenticatedRequest } from './auth.guard.js';

/** The verified caller and the request's correlation id, as commands want them. */
export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): CommandContext => {
  const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
  if (!req.identity) throw new UnauthenticatedError('no identity on this request');
  return { principal: req.identity, correlationId: String(req.id ?? '') };
});
