import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AccessRecorder } from '@custos/access';
import { defineAbilityFor, subjectOf } from '@custos/authz';
import { ForbiddenError, UnauthenticatedError } from '@custos/errors';
import { JwtVerifier } from '@custos/identity';
import { PUBLIC_ROUTE, ROUTE_REQUIREMENT, type RouteRequirement, routeOf } from '@custos/runtime';
import { LOGGER } from '@custos/kernel';
import type { Logger } from 'pino';
import { type AuthenticatedRequest, callerOf } from './identity.decorator.js';

export type { AuthenticatedRequest };

/**
 * The one gate of every route: authenticate the bearer JWT, then check the route's declared
 * requirement against the caller's CASL ability. A refusal is recorded as an event before the
 * 403 goes out. A route that declares nothing is refused (fail closed). The rule that let the
 * caller in is kept on the request, for the record of an audit read.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(JwtVerifier) private readonly verifier: JwtVerifier,
    @Inject(AccessRecorder) private readonly recorder: AccessRecorder,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9._~+/=-]{1,16384})$/.exec(header) : null;
    if (!match) throw new UnauthenticatedError('a bearer token is required', 'token-missing');
    const identity = await this.verifier.verify(match[1] as string);
    req.identity = identity;

    const requirement = this.reflector.getAllAndOverride<RouteRequirement | undefined>(ROUTE_REQUIREMENT, targets);
    if (!requirement) {
      this.logger.error({ route: routeOf(req) }, 'route declares no permission: refused (fail closed)');
      throw new ForbiddenError('this route declares no permission and is closed', undefined, 'route-not-declared');
    }
    req.requirement = requirement;
    const attributes = requirement.attributes?.(req) ?? {};
    const ability = defineAbilityFor(identity);
    // With attributes, the rule's conditions are checked here; without, the route may touch
    // some instance of the subject and checks the instance itself once it has loaded it.
    const subject = requirement.attributes ? subjectOf(requirement.subject, attributes) : requirement.subject;
    if (ability.can(requirement.action, subject)) {
      req.grantedBy = ability.relevantRuleFor(requirement.action, subject)?.reason ?? 'permitted';
      return true;
    }
    const patientId = typeof attributes.patientId === 'string' ? attributes.patientId : null;
    await this.recorder.routeDenied(callerOf(req).context, {
      method: req.method,
      route: routeOf(req),
      action: requirement.action,
      subject: requirement.subject,
      patientId,
      rule: 'not-entitled',
    });
    throw new ForbiddenError(`your roles may not ${requirement.action} ${requirement.subject}${patientId ? ' of this patient' : ''}`, undefined, 'not-entitled');
  }
}
