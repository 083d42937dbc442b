import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  type AccessDecisionResult,
  AccessTrailQuery,
  DisclosuresQuery,
  type ImageView,
  type Page,
  type Projected,
  ReadImageCommand,
  RequestAccessCommand,
  ReviewEmergencyAccessCommand,
  type ReviewItem,
  ReviewQueueQuery,
  toAuditBundle,
  type TrailItem,
} from '@custos/access';
import { RegisterImageCommand } from '@custos/imaging';
import { Clock, parseOptionalInstant } from '@custos/platform';
import { type HttpReply, type HttpRequest, Requires } from '@custos/runtime';
import { AuditedRead, itemsOf } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, DECISION_SCHEMA, EVENT_REF_SCHEMA, FHIR_BUNDLE_SCHEMA, OBJECT_SCHEMA, PAGE_OF, SCHEMA, TRAIL_ITEM_SCHEMA } from '../openapi.js';
import { AccessRequestDto, AuditQueryDto, EventParams, ImageParams, ImageQueryDto, PatientParams, RegisterImageDto, ReviewDto, ReviewQueueQueryDto, TrailQueryDto } from './access.dto.js';

export const PROJECTED_HEADER = 'x-custos-projected-seq';
const SIX_YEARS_MS = 6 * 365.25 * 24 * 3600 * 1000;

/**
 * Thin: validate (DTOs), hand to a command or query handler, shape the answer. Decisions,
 * refusals and audit reads are recorded by the handlers and interceptors, before the answer.
 */
@ApiTags('access')
@ApiBearerAuth()
@Controller('v1')
export class AccessController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Post('access-requests')
  @HttpCode(200)
  @Requires('create', 'AccessRequest')
  @ApiOperation({ summary: 'Decide and record one request for patient data: 200 PERMIT, 403 DENY, 404 unknown resource (all recorded)' })
  @ApiJson(200, 'PERMIT, recorded', DECISION_SCHEMA)
  @ApiProblems({ 403: ['access-denied', 'consent-not-granted'], 404: ['unknown-resource'] })
  requestAccess(@Body() body: AccessRequestDto, @Caller() caller: CallerContext): Promise<AccessDecisionResult> {
    const { emergency, ...request } = body;
    return this.commands.execute(new RequestAccessCommand({ ...request, ...(emergency ? { emergencyReason: emergency.reason } : {}) }, caller.principal, caller.context));
  }

  @Post('images')
  @Requires('create', 'Image')
  @ApiOperation({ summary: 'Register an image (an ImageRegistered event); 409 if the id exists' })
  @ApiJson(201, 'registered', { type: 'object', properties: { imageId: SCHEMA.str, eventId: SCHEMA.str, sequence: SCHEMA.int } })
  @ApiProblems({ 409: ['image-exists'] })
  async registerImage(@Body() body: RegisterImageDto, @Caller() caller: CallerContext) {
    const r: { eventId: string; sequence: number } = await this.commands.execute(new RegisterImageCommand({ ...body, demographics: { ...body.demographics } }, caller.context));
    return { imageId: body.imageId, ...r };
  }

  @Get('images/:imageId')
  @Requires('create', 'AccessRequest')
  @ApiOperation({ summary: 'Read an image for a purpose: decided and recorded like any access; demographics only where entitled and consented, else "withheld"' })
  @ApiJson(200, 'the image, with the recorded decision', { type: 'object', properties: { imageId: SCHEMA.str, patientId: SCHEMA.str, modality: SCHEMA.str, bodySite: SCHEMA.str, datasetId: SCHEMA.str, registeredAt: SCHEMA.str, demographics: { oneOf: [{ type: 'object' }, { type: 'string', enum: ['withheld'] }] }, access: DECISION_SCHEMA } })
  @ApiProblems({ 403: ['access-denied', 'consent-not-granted'], 404: ['unknown-resource'] })
  image(@Param() p: ImageParams, @Query() q: ImageQueryDto, @Caller() caller: CallerContext): Promise<ImageView> {
    return this.commands.execute(new ReadImageCommand(p.imageId, q.purpose, caller.principal, caller.context));
  }

  @Get('patients/:patientId/access-trail')
  @Requires('read', 'AccessTrail', (req) => ({ patientId: req.params.patientId }))
  @AuditedRead('access-trail', itemsOf)
  @ApiOperation({ summary: "A patient's access trail, oldest first; ?format=fhir or Accept: application/fhir+json for a FHIR Bundle of AuditEvent. The read is recorded." })
  @ApiJson(200, 'a page of the trail', PAGE_OF(TRAIL_ITEM_SCHEMA), { 'application/fhir+json': FHIR_BUNDLE_SCHEMA })
  @ApiProblems()
  async trail(@Param() p: PatientParams, @Query() q: TrailQueryDto, @Headers('accept') accept: string | undefined, @Req() req: HttpRequest, @Res({ passthrough: true }) res: HttpReply) {
    const answer: Projected<Page<TrailItem>> = await this.queries.execute(
      new AccessTrailQuery({ patientId: p.patientId, from: parseOptionalInstant('from', q.from), to: parseOptionalInstant('to', q.to), limit: q.limit ?? 100, ...(q.cursor ? { cursor: q.cursor } : {}) }),
    );
    res.header(PROJECTED_HEADER, String(answer.projectedSequence));
    const page = answer.result;
    if (q.format === 'fhir' || (q.format === undefined && accept?.includes('application/fhir+json'))) {
      res.header('content-type', 'application/fhir+json');
      return toAuditBundle(page.items, page.nextCursor ? nextUrl(req, page.nextCursor) : null);
    }
    return page;
  }

  @Get('patients/:patientId/disclosures')
  @Requires('read', 'Disclosures', (req) => ({ patientId: req.params.patientId }))
  @AuditedRead('disclosures', itemsOf)
  @ApiOperation({ summary: 'HIPAA accounting of disclosures: permitted accesses for purposes other than treatment and operations (six years by default). The read is recorded.' })
  @ApiJson(200, 'the disclosures', { type: 'object', properties: { patientId: SCHEMA.str, from: SCHEMA.str, to: SCHEMA.str, items: { type: 'array', items: OBJECT_SCHEMA } } })
  @ApiProblems()
  async disclosures(@Param() p: PatientParams, @Query() q: TrailQueryDto, @Res({ passthrough: true }) res: HttpReply) {
    const to = parseOptionalInstant('to', q.to) ?? this.clock.now();
    const from = parseOptionalInstant('from', q.from) ?? new Date(to.getTime() - SIX_YEARS_MS);
    const answer: Projected<TrailItem[]> = await this.queries.execute(new DisclosuresQuery(p.patientId, from, to));
    res.header(PROJECTED_HEADER, String(answer.projectedSequence));
    return {
      patientId: p.patientId,
      from: from.toISOString(),
      to: to.toISOString(),
      items: answer.result.map((i) => ({ date: i.occurredAt, recipient: i.actor, purpose: i.purpose, resourceType: i.resourceType, resourceId: i.resourceId, action: i.action, eventId: i.eventId, sequence: i.sequence, emergency: i.emergency })),
    };
  }

  @Get('audit/events')
  @Requires('read', 'AuditLog')
  @AuditedRead('audit-log', itemsOf)
  @ApiOperation({ summary: 'Search the whole access log (breach investigations): by actor, patient, decision, purpose, time. The search is recorded.' })
  @ApiJson(200, 'a page of matching entries', PAGE_OF(TRAIL_ITEM_SCHEMA))
  @ApiProblems()
  async audit(@Query() q: AuditQueryDto, @Res({ passthrough: true }) res: HttpReply) {
    const answer: Projected<Page<TrailItem>> = await this.queries.execute(
      new AccessTrailQuery({
        ...(q.actorId ? { actorId: q.actorId } : {}),
        ...(q.patientId ? { patientId: q.patientId } : {}),
        ...(q.decision ? { decision: q.decision } : {}),
        ...(q.purpose ? { purpose: q.purpose } : {}),
        from: parseOptionalInstant('from', q.from),
        to: parseOptionalInstant('to', q.to),
        limit: q.limit ?? 100,
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }),
    );
    res.header(PROJECTED_HEADER, String(answer.projectedSequence));
    return answer.result;
  }

  @Get('reviews/emergency-access')
  @Requires('read', 'EmergencyReview')
  @AuditedRead('review-queue', itemsOf)
  @ApiOperation({ summary: 'The break-the-glass review queue: open by default, oldest first, paged by cursor, with the total count. The read is recorded.' })
  @ApiJson(200, 'a page of the queue', PAGE_OF(OBJECT_SCHEMA, { total: SCHEMA.int }))
  @ApiProblems()
  async reviews(@Query() q: ReviewQueueQueryDto, @Res({ passthrough: true }) res: HttpReply) {
    const answer: Projected<Page<ReviewItem> & { total: number }> = await this.queries.execute(new ReviewQueueQuery(q.status ?? 'open', q.limit ?? 100, q.cursor));
    res.header(PROJECTED_HEADER, String(answer.projectedSequence));
    return answer.result;
  }

  @Post('reviews/emergency-access/:eventId')
  @HttpCode(200)
  @Requires('update', 'EmergencyReview')
  @ApiOperation({ summary: 'Close an emergency access with a verdict (an event too); 409 if already reviewed' })
  @ApiJson(200, 'reviewed', EVENT_REF_SCHEMA)
  @ApiProblems({ 400: ['not-emergency-access'], 404: ['not-found'], 409: ['already-reviewed'] })
  async review(@Param() p: EventParams, @Body() body: ReviewDto, @Caller() caller: CallerContext) {
    const r: { eventId: string; sequence: number } = await this.commands.execute(new ReviewEmergencyAccessCommand({ accessEventId: p.eventId, verdict: body.verdict, note: body.note }, caller.context));
    return { accessEventId: p.eventId, verdict: body.verdict, ...r };
  }
}

function nextUrl(req: HttpRequest, cursor: string): string {
  const url = new URL(req.url, 'http://custos.local');
  url.searchParams.set('cursor', cursor);
  return `${url.pathname}${url.search}`;
}
