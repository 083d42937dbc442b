import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { recordRouteDenied } from '@custos/access';
import { defineAbilityFor, subjectOf } from '@custos/authz';
import { ForbiddenError, UnauthenticatedError } from '@custos/errors';
import { EventStore } from '@custos/event-store';
import { Identity, JwtVerifier } from '@custos/identity';
import { Clock } from '@custos/platform';
import { LOGGER, PUBLIC_ROUTE, ROUTE_REQUIREMENT, RouteRequirement } from '@custos/runtime';
import type { Request } from 'express';
import type { Logger } from 'pino';

export type AuthenticatedRequest = Request & { id?: string; identity?: Identity };

/**
 * The one gate of every route: authenticate the bearer JWT, then check the route's declared
 * requirement against the caller's CASL ability. A refusal is recorded as an event before the
 * 403 goes out. A route that declares nothing is refused (fail closed).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(JwtVerifier) private readonly verifier: JwtVerifier,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header) : null;
    if (!match) throw new UnauthenticatedError('a bearer token is required', 'token-missing');
    const identity = await this.verifier.verify(match[1] as string);
    req.identity = identity;

    const requirement = this.reflector.getAllAndOverride<RouteRequirement | undefined>(ROUTE_REQUIREMENT, targets);
    if (!requirement) {
      this.logger.error({ route: req.route?.path }, 'route declares no permission: refused (fail closed)');
      throw new ForbiddenError('this route declares no permission and is closed', undefined, 'route-not-declared');
    }
    const attributes = requirement.attributes?.(req) ?? {};
    const ability = defineAbilityFor(identity);
    // With attributes, the rule's conditions are checked here; without, the route may touch
    // some instance of the subject and checks the instance itself once it has loaded it.
    const allowed = requirement.attributes ? ability.can(requirement.action, subjectOf(requirement.subject, attributes)) : ability.can(requirement.action, requirement.subject);
    if (allowed) return true;

    const patientId = typeof attributes.patientId === 'string' ? attributes.patientId : null;
    await recordRouteDenied(this.store, this.clock, { principal: identity, correlationId: String(req.id ?? '') }, {
      method: req.method,
      route: String(req.route?.path ?? req.path),
      action: requirement.action,
      subject: requirement.subject,
      patientId,
      rule: 'not-entitled',
    });
    throw new ForbiddenError(`your roles may not ${requirement.action} ${requirement.subject}${patientId ? ' of this patient' : ''}`, undefined, 'not-entitled');
  }
}
