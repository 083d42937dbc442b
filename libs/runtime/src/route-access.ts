import { SetMetadata } from '@nestjs/common';
import type { Action, Subjects } from '@custos/authz';
import type { HttpRequest } from './http.js';

export const PUBLIC_ROUTE = 'custos:public';
export const ROUTE_REQUIREMENT = 'custos:requires';

export interface RouteRequirement {
  readonly action: Action;
  readonly subject: Subjects;
  /** Attributes of the subject the route touches (e.g. the patient in the path), for conditions. */
  readonly attributes?: (req: HttpRequest) => Record<string, unknown>;
}

/** No identity needed (health, metrics, JWKS, the dev issuer). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/**
 * What a route needs, checked by the gateway's guard against the caller's CASL ability. A
 * route that declares neither this nor @Public() is refused: a forgotten check fails closed.
 */
export const Requires = (action: Action, subject: Subjects, attributes?: RouteRequirement['attributes']) =>
  SetMetadata(ROUTE_REQUIREMENT, { action, subject, attributes } satisfies RouteRequirement);
