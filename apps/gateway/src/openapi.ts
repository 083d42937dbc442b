import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath, type OpenAPIObject } from '@nestjs/swagger';
import type { OpenApiSpec, RouteInfo, Schema } from '@custos/runtime';

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
  400: ['validation-failed', 'ill-formed-text', 'too-deeply-nested', 'forbidden-key', 'bad-instant', 'bad-cursor'],
  401: ['token-missing', 'token-malformed', 'token-algorithm-rejected', 'token-unknown-key', 'token-bad-signature', 'token-wrong-issuer', 'token-wrong-audience', 'token-expired', 'token-not-yet-valid', 'token-bad-claims'],
  403: ['not-entitled'],
  503: ['store-unavailable', 'key-unavailable'],
};

/**
 * Documents the problem+json answers of a route: each status with the Problem schema and its
 * codes as an enum, so a client can switch on them and the e2e suite's contract check fails on
 * a code a route answers without listing it. 401 and 503 apply to every authenticated route
 * and are always listed; what every route with a body can answer is added by `finishDocument`.
 */
export function ApiProblems(extra: Record<number, string[]> = {}, options: { authenticated?: boolean } = {}) {
  const statuses: Record<number, string[]> = { 400: COMMON[400]!, 503: COMMON[503]! };
  if (options.authenticated !== false) Object.assign(statuses, { 401: COMMON[401]!, 403: COMMON[403]! });
  for (const [s, codes] of Object.entries(extra)) statuses[Number(s)] = [...(statuses[Number(s)] ?? []), ...codes];
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ...Object.entries(statuses).map(([status, codes]) =>
      ApiResponse({ status: Number(status), description: `problem+json; code one of: ${codes.join(', ')}`, content: { 'application/problem+json': { schema: problemSchema(codes) } } }),
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
    decision: { type: 'string', enum: ['PERMIT', 'DENY', 'reported-success', 'reported-failure'] },
    rule: str,
    emergency: bool,
    consentVersion: nullable(int),
    itemsReturned: int,
    reported: {
      type: 'object',
      description: 'an access another system reported (FHIR AuditEvent ingest), not decided by Custos',
      properties: { source: str, auditEventId: str, outcome: nullable(str), recorded: { type: 'string', format: 'date-time' }, note: str },
    },
  },
};

export const PAGE_OF = (item: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'object', properties: { items: { type: 'array', items: item }, nextCursor: nullable(str), ...extra } });
export const FHIR_BUNDLE_SCHEMA = { type: 'object', description: 'FHIR R4 Bundle', properties: { resourceType: { type: 'string', enum: ['Bundle'] }, type: str, entry: { type: 'array', items: { type: 'object' } } } };
export const EVENT_REF_SCHEMA = { type: 'object', properties: { eventId: str, sequence: int } };
export const OBJECT_SCHEMA = { type: 'object' };
export const SCHEMA = { str, int, bool, nullable };

export function problemSchema(codes: readonly string[]): Schema {
  return { allOf: [{ $ref: getSchemaPath(ProblemDto) }, { type: 'object', properties: { code: { type: 'string', enum: [...new Set(codes)] } } }] };
}

/**
 * The gateway's operationIds: readable, stable names for generated clients (a class or method
 * rename must not rename the client's calls). A route missing here gets a name from its path
 * and the contract test fails until it is named.
 */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /health': 'getReadiness',
  'GET /health/live': 'getLiveness',
  'GET /.well-known/jwks.json': 'getJwks',
  'POST /v1/dev/tokens': 'issueDevToken',
  'POST /v1/access-requests': 'requestAccess',
  'POST /v1/images': 'registerImage',
  'GET /v1/images/{imageId}': 'readImage',
  'GET /v1/patients/{patientId}/access-trail': 'getAccessTrail',
  'GET /v1/patients/{patientId}/disclosures': 'getDisclosures',
  'GET /v1/audit/events': 'searchAuditEvents',
  'POST /v1/audit/ingest': 'ingestAuditEvents',
  'GET /v1/reviews/emergency-access': 'listEmergencyAccessReviews',
  'POST /v1/reviews/emergency-access/{eventId}': 'reviewEmergencyAccess',
  'PUT /v1/patients/{patientId}/consents/{purpose}': 'changeConsent',
  'DELETE /v1/patients/{patientId}/consents/{purpose}': 'withdrawConsent',
  'GET /v1/patients/{patientId}/consents': 'getConsents',
  'GET /v1/patients/{patientId}/consents/history': 'getConsentHistory',
  'GET /v1/patients/{patientId}/consents/receipts/{version}': 'getConsentReceipt',
  'GET /v1/datasets/{datasetId}/consent-withdrawals': 'getDatasetConsentWithdrawals',
  'POST /v1/patients/{patientId}/erasure': 'erasePatientData',
  'PUT /v1/patients/{patientId}/legal-hold': 'setLegalHold',
  'POST /v1/admin/keys/rotate': 'rotateKeys',
  'PUT /v1/datasets/{datasetId}': 'configureDataset',
  'GET /v1/datasets/{datasetId}': 'getDataset',
  'POST /v1/datasets/{datasetId}/snapshots': 'createSnapshot',
  'GET /v1/datasets/{datasetId}/snapshots/{snapshotId}': 'getSnapshot',
  'GET /v1/datasets/{datasetId}/snapshots/{snapshotId}/proof': 'getSnapshotProof',
  'GET /v1/datasets/{datasetId}/quality': 'getDatasetQuality',
  'POST /v1/models': 'registerModel',
  'GET /v1/models': 'listModels',
  'GET /v1/models/{modelId}': 'getModel',
  'POST /v1/models/{modelId}/evaluations': 'evaluateModel',
  'GET /v1/models/{modelId}/card': 'getModelCard',
  'GET /v1/datasets/{datasetId}/balance': 'getDatasetBalance',
  'GET /v1/datasets/{datasetId}/balance/plan': 'planDatasetBalance',
  'GET /v1/datasets/{datasetId}/privacy-ledger': 'getPrivacyLedger',
  'PUT /v1/datasets/{datasetId}/reference-population': 'setReferencePopulation',
  'GET /v1/datasets/{datasetId}/reference-population': 'getReferencePopulation',
  'POST /v1/images/{imageId}/annotations': 'createAnnotation',
  'GET /v1/images/{imageId}/annotations': 'listImageAnnotations',
  'PUT /v1/annotations/{annotationId}': 'editAnnotation',
  'DELETE /v1/annotations/{annotationId}': 'deleteAnnotation',
  'GET /v1/annotations/{annotationId}': 'getAnnotation',
  'POST /v1/annotations/{annotationId}/reviews': 'reviewAnnotation',
  'GET /v1/annotations/{annotationId}/history': 'getAnnotationHistory',
  'GET /v1/log/checkpoint': 'getLatestCheckpoint',
  'GET /v1/log/checkpoints/{treeSize}': 'getCheckpoint',
  'GET /v1/log/proofs/inclusion': 'getInclusionProof',
  'GET /v1/log/proofs/consistency': 'getConsistencyProof',
  'POST /v1/exports': 'exportPatientBundle',
  'PUT /v1/patients/{patientId}/profile': 'setPatientProfile',
  'PUT /v1/workforce/{actorId}': 'setWorkforceRecord',
  'GET /v1/incidents': 'listIncidents',
  'GET /v1/findings': 'listFindings',
  'GET /v1/findings/{findingId}': 'getFinding',
  'POST /v1/findings/{findingId}/transitions': 'transitionFinding',
  'POST /v1/incidents': 'openIncident',
  'GET /v1/incidents/{incidentId}': 'getIncident',
  'POST /v1/incidents/{incidentId}/transitions': 'transitionIncident',
  'POST /v1/incidents/{incidentId}/evidence': 'attachIncidentEvidence',
  'POST /v1/incidents/{incidentId}/assessment': 'assessIncident',
  'POST /v1/incidents/{incidentId}/notifications': 'recordIncidentNotification',
  'POST /v1/incidents/{incidentId}/holds': 'recordIncidentHold',
  'POST /v1/incidents/{incidentId}/verdict': 'recordIncidentVerdict',
  'POST /v1/incidents/{incidentId}/patients': 'addIncidentPatients',
  'POST /v1/incidents/{incidentId}/reopen': 'reopenIncident',
  'PUT /v1/incidents/{incidentId}/severity': 'setIncidentSeverity',
  'PUT /v1/incidents/{incidentId}/assignee': 'assignIncident',
  'PUT /v1/incidents/{incidentId}/discovery': 'setIncidentDiscovery',
  'GET /v1/incidents/{incidentId}/clocks': 'getIncidentClocks',
  'GET /v1/incidents/{incidentId}/blast-radius': 'getIncidentBlastRadius',
  'GET /v1/incidents/{incidentId}/affected-patients': 'getIncidentAffectedPatients',
  'GET /v1/incidents/{incidentId}/notification-draft': 'getIncidentNotificationDraft',
  'GET /v1/incidents/{incidentId}/export': 'exportIncident',
  'GET /v1/incidents/{incidentId}/timeline': 'getIncidentTimeline',
  'GET /v1/siem/events': 'getSiemEvents',
  'GET /dicom-web/studies': 'qidoSearchStudies',
  'GET /dicom-web/series': 'qidoSearchSeries',
  'GET /dicom-web/instances': 'qidoSearchInstances',
  'GET /dicom-web/studies/{study}/series': 'qidoSearchStudySeries',
  'GET /dicom-web/studies/{study}/instances': 'qidoSearchStudyInstances',
  'GET /dicom-web/studies/{study}/series/{series}/instances': 'qidoSearchSeriesInstances',
  'GET /dicom-web/studies/{study}': 'wadoRetrieveStudy',
  'GET /dicom-web/studies/{study}/metadata': 'wadoStudyMetadata',
  'GET /dicom-web/studies/{study}/series/{series}': 'wadoRetrieveSeries',
  'GET /dicom-web/studies/{study}/series/{series}/metadata': 'wadoSeriesMetadata',
  'GET /dicom-web/studies/{study}/series/{series}/instances/{instance}': 'wadoRetrieveInstance',
  'GET /dicom-web/studies/{study}/series/{series}/instances/{instance}/metadata': 'wadoInstanceMetadata',
  'GET /dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frames}': 'wadoRetrieveFrames',
  'GET /dicom-web/studies/{study}/series/{series}/instances/{instance}/rendered': 'wadoRetrieveRendered',
  'POST /dicom-web/studies': 'stowStoreInstances',
  'POST /dicom-web/studies/{study}': 'stowStoreStudyInstances',
};

const header = (description: string, schema: Schema = { type: 'string' }) => ({ description, schema });

/** Response headers the gateway's handlers set, per operation (checked against every e2e answer). */
const RESPONSE_HEADERS: Readonly<Record<string, Record<string, ReturnType<typeof header>>>> = {
  etag: { ETag: header('the stream version this answer reflects, quoted ("3"): send it back as If-Match', { type: 'string', pattern: '^"[0-9]+"$' }) },
  projected: { 'x-custos-projected-seq': header('how far the read models have applied the log (a global sequence): an answer reflects every event up to it', { type: 'string', pattern: '^[0-9]+$' }) },
  nextAfter: { 'x-custos-next-after': header('the sequence to resume after (?after=)', { type: 'string', pattern: '^[0-9]+$' }) },
  exportEvents: { 'x-custos-export-events': header('how many events the bundle holds', { type: 'string', pattern: '^[0-9]+$' }) },
};
const HEADERS_OF: Readonly<Record<string, ReadonlyArray<keyof typeof RESPONSE_HEADERS>>> = {
  changeConsent: ['etag'],
  withdrawConsent: ['etag'],
  getConsents: ['etag'],
  configureDataset: ['etag'],
  getDataset: ['etag'],
  setReferencePopulation: ['etag'],
  getReferencePopulation: ['etag'],
  editAnnotation: ['etag'],
  getAccessTrail: ['projected'],
  getDisclosures: ['projected'],
  searchAuditEvents: ['projected'],
  listEmergencyAccessReviews: ['projected'],
  getSiemEvents: ['nextAfter'],
  exportPatientBundle: ['exportEvents'],
};

/** Routes answering NDJSON (one JSON object a line) rather than one JSON document. */
const NDJSON = new Set(['exportIncident', 'getSiemEvents']);

/** What the input guard answers for a query string or body it refuses. */
const INPUT_PROBLEMS = ['ill-formed-text', 'too-deeply-nested', 'forbidden-key'];

/** What Fastify and the input guard answer for any route that takes a body, before the handler. */
const BODY_PROBLEMS: Record<number, string[]> = { 400: ['bad-request', 'body-not-object'], 413: ['payload-too-large'], 415: ['unsupported-media-type'] };

/**
 * The gateway's last touches on its document: response headers its handlers set, NDJSON
 * answers, and the problems every route with a body can get before its handler runs.
 */
export function finishDocument(document: OpenAPIObject, routes: readonly RouteInfo[]): void {
  document.info.license = { name: 'UNLICENSED (proprietary)' };
  for (const route of routes) {
    const operation = (document.paths[route.path] as Record<string, Schema> | undefined)?.[route.method];
    if (!operation) continue;
    const responses = operation.responses as Record<string, Schema>;
    // The input guard reads every query string, on every route.
    responses['400'] ??= { description: `problem+json; code one of: ${INPUT_PROBLEMS.join(', ')}`, content: { 'application/problem+json': { schema: problemSchema(INPUT_PROBLEMS) } } };
    const success = Object.entries(responses).filter(([status]) => status.startsWith('2'));
    for (const kind of HEADERS_OF[operation.operationId as string] ?? []) {
      for (const [, r] of success) r.headers = { ...((r.headers as Schema | undefined) ?? {}), ...RESPONSE_HEADERS[kind] };
    }
    if (NDJSON.has(operation.operationId as string)) {
      for (const [, r] of success) r.content = { 'application/x-ndjson': { schema: { type: 'string', description: 'one JSON object a line' } } };
    }
    if (route.headers.includes('if-match')) addCodes(responses, 400, ['bad-if-match']);
    if (['post', 'put', 'patch', 'delete'].includes(route.method)) {
      for (const [status, codes] of Object.entries(BODY_PROBLEMS)) addCodes(responses, Number(status), codes);
    }
    // A path parameter longer than the router matches (far above any id) is refused before the route.
    if (route.path.includes('{')) addCodes(responses, 414, ['path-too-long']);
  }
}

function addCodes(responses: Record<string, Schema>, status: number, codes: readonly string[]): void {
  const existing = responses[String(status)];
  const all = [...new Set([...(existing ? codesOf(existing) : []), ...codes])];
  responses[String(status)] = { description: `problem+json; code one of: ${all.join(', ')}`, content: { 'application/problem+json': { schema: problemSchema(all) } } };
}

function codesOf(response: Schema): string[] {
  const schema = ((response.content as Record<string, Schema> | undefined)?.['application/problem+json']?.schema ?? {}) as Schema;
  const part = ((schema.allOf as Schema[] | undefined) ?? [])[1] as { properties?: { code?: { enum?: string[] } } } | undefined;
  return part?.properties?.code?.enum ?? [];
}

export const GATEWAY_OPENAPI: OpenApiSpec = { operationIds: OPERATION_IDS, finish: finishDocument };
