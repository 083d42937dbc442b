import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';

/** RFC 9457 problem details as Custos answers them (every 4xx and 5xx). */
export class ProblemDto {
  @ApiProperty({ example: 'https://custos.dev/problems/validation-failed' }) type!: string;
  @ApiProperty({ example: 'Invalid request' }) title!: string;
  @ApiProperty({ example: 400 }) status!: number;
  @ApiProperty() detail!: string;
  @ApiProperty({ description: 'Stable machine-readable code; clients switch on it' }) code!: string;
  @ApiProperty({ description: 'The request correlation id (also in x-correlation-id)' }) correlationId!: string;
  @ApiPropertyOptional({ description: 'The request path' }) instance?: string;
}

/** The codes each status can carry, across routes (a route lists its own). */
const COMMON: Record<number, string[]> = {
  400: ['validation-failed', 'ill-formed-text', 'too-deeply-nested', 'bad-instant', 'bad-cursor'],
  401: ['token-missing', 'token-malformed', 'token-algorithm-rejected', 'token-unknown-key', 'token-bad-signature', 'token-wrong-issuer', 'token-wrong-audience', 'token-expired', 'token-not-yet-valid', 'token-bad-claims'],
  403: ['not-entitled'],
  503: ['store-unavailable'],
};

/**
 * Documents the problem+json answers of a route: each status with its codes and the Problem
 * schema, so a client can be generated from the document. 401 and 503 apply to every
 * authenticated route and are always listed.
 */
export function ApiProblems(extra: Record<number, string[]> = {}, options: { authenticated?: boolean } = {}) {
  const statuses: Record<number, string[]> = { 400: COMMON[400]!, 503: COMMON[503]! };
  if (options.authenticated !== false) Object.assign(statuses, { 401: COMMON[401]!, 403: COMMON[403]! });
  for (const [s, codes] of Object.entries(extra)) statuses[Number(s)] = [...(statuses[Number(s)] ?? []), ...codes];
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...Object.entries(statuses).map(([status, codes]) =>
      ApiResponse({ status: Number(status), description: `problem+json; code one of: ${codes.join(', ')}`, content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } } }),
    ),
  );
}

/** A JSON success answer with its schema. */
export function ApiJson(status: number, description: string, schema: Record<string, unknown>, extraContent: Record<string, Record<string, unknown>> = {}) {
  return ApiResponse({ status, description, content: { 'application/json': { schema }, ...Object.fromEntries(Object.entries(extraContent).map(([type, s]) => [type, { schema: s }])) } });
}

const str = { type: 'string' };
const int = { type: 'integer' };
const bool = { type: 'boolean' };
const nullable = (s: Record<string, unknown>) => ({ ...s, nullable: true });

export const DECISION_SCHEMA = {
  type: 'object',
  required: ['eventId', 'sequence', 'decision', 'rule', 'reason', 'emergency', 'consentVersion', 'policyVersion'],
  properties: { eventId: str, sequence: int, patientId: nullable(str), decision: { type: 'string', enum: ['PERMIT', 'DENY'] }, rule: str, reason: str, emergency: bool, consentVersion: int, policyVersion: str, demographics: { type: 'string', enum: ['included', 'withheld'] } },
};

export const TRAIL_ITEM_SCHEMA = {
  type: 'object',
  properties: {
    eventId: str,
    sequence: int,
    occurredAt: { type: 'string', format: 'date-time' },
    actor: { type: 'object', properties: { id: str, roles: { type: 'array', items: str } } },
    patientId: nullable(str),
    resourceType: str,
    resourceId: str,
    action: str,
    purpose: nullable(str),
    decision: { type: 'string', enum: ['PERMIT', 'DENY'] },
    rule: str,
    emergency: bool,
    consentVersion: nullable(int),
    itemsReturned: int,
  },
};

export const PAGE_OF = (item: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties: { items: { type: 'array', items: item }, nextCursor: nullable(str), ...extra } });
export const FHIR_BUNDLE_SCHEMA = { type: 'object', description: 'FHIR R4 Bundle', properties: { resourceType: { type: 'string', enum: ['Bundle'] }, type: str, entry: { type: 'array', items: { type: 'object' } } } };
export const EVENT_REF_SCHEMA = { type: 'object', properties: { eventId: str, sequence: int } };
export const OBJECT_SCHEMA = { type: 'object' };
export const SCHEMA = { str, int, bool, nullable };
