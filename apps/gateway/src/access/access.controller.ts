import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AccessDecisionResult, CommandContext, ImageRegisteredData } from '@custos/access';
import {
  AccessQueries,
  imageStreamId,
  recordRouteDenied,
  RegisterImageCommand,
  RequestAccessCommand,
  ReviewEmergencyAccessCommand,
  toAuditBundle,
} from '@custos/access';
import { defineAbilityFor, subjectOf } from '@custos/authz';
import { ForbiddenError, NotFoundError } from '@custos/errors';
import { EventStore } from '@custos/event-store';
import { Clock, PROBLEM_CONTENT_TYPE } from '@custos/platform';
import { Requires } from '@custos/runtime';
import type { Request, Response } from 'express';
import { Caller } from '../auth/identity.decorator.js';
import { AccessRequestDto, AuditQueryDto, checkId, parseInstant, RegisterImageDto, ReviewDto, ReviewQueueQueryDto, TrailQueryDto } from './access.dto.js';

export const PROJECTED_HEADER = 'x-custos-projected-seq';
const SIX_YEARS_MS = 6 * 365.25 * 24 * 3600 * 1000;

@ApiTags('access')
@ApiBearerAuth()
@Controller('v1')
export class AccessController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(AccessQueries) private readonly queries: AccessQueries,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Post('access-requests')
  @HttpCode(200)
  @Requires('create', 'AccessRequest')
  @ApiOperation({ summary: 'Decide and record one request for patient data: 200 PERMIT, 403 DENY, 404 unknown resource (all recorded)' })
  async requestAccess(@Body() body: AccessRequestDto, @Caller() caller: CommandContext, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const result: AccessDecisionResult = await this.commands.execute(
      new RequestAccessCommand({ resourceType: body.resourceType, resourceId: body.resourceId, action: body.action, purpose: body.purpose, ...(body.emergency ? { emergencyReason: body.emergency.reason } : {}) }, caller),
    );
    if (result.decision === 'PERMIT') return result;
    const status = result.rule === 'unknown-resource' ? 404 : 403;
    res.status(status).setHeader('content-type', PROBLEM_CONTENT_TYPE);
    return {
      type: `https://custos.dev/problems/${status === 404 ? 'unknown-resource' : 'access-denied'}`,
      title: status === 404 ? 'Not found' : 'Forbidden',
      status,
      detail: result.reason,
      code: status === 404 ? 'unknown-resource' : 'access-denied',
      correlationId: caller.correlationId,
      instance: req.path,
      ...result,
    };
  }

  @Post('images')
  @Requires('create', 'Image')
  @ApiOperation({ summary: 'Register an image (an ImageRegistered event); 409 if the id exists' })
  async registerImage(@Body() body: RegisterImageDto, @Caller() caller: CommandContext) {
    const image: ImageRegisteredData = { ...body, demographics: { ...body.demographics } };
    const r: { eventId: string; sequence: number } = await this.commands.execute(new RegisterImageCommand(image, caller));
    return { imageId: body.imageId, ...r };
  }

  @Get('images/:imageId')
  @Requires('read', 'Image')
  @ApiOperation({ summary: 'An image and whose it is; demographics only for roles entitled to them' })
  async image(@Param('imageId') imageId: string, @Caller() caller: CommandContext) {
    checkId('imageId', imageId);
    const [registered] = await this.store.readStream(imageStreamId(imageId));
    if (!registered) throw new NotFoundError(`no image ${imageId}`, { imageId });
    const data = registered.data as ImageRegisteredData;
    const ability = defineAbilityFor(caller.principal);
    if (!ability.can('read', subjectOf('Image', { patientId: data.patientId }))) {
      await recordRouteDenied(this.store, this.clock, caller, { method: 'GET', route: '/v1/images/:imageId', action: 'read', subject: 'Image', patientId: data.patientId, rule: 'not-entitled' });
      throw new ForbiddenError('your roles may not read this image', undefined, 'not-entitled');
    }
    const { demographics, ...rest } = data;
    return {
      ...rest,
      registeredAt: registered.occurredAt,
      ...(ability.can('read', subjectOf('ImageDemographics', { patientId: data.patientId })) ? { demographics } : {}),
    };
  }

  @Get('patients/:patientId/access-trail')
  @Requires('read', 'AccessTrail', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: "A patient's access trail, oldest first; ?format=fhir or Accept: application/fhir+json for a FHIR Bundle of AuditEvent" })
  async trail(@Param('patientId') patientId: string, @Query() q: TrailQueryDto, @Headers('accept') accept: string | undefined, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    checkId('patientId', patientId);
    const page = await this.queries.trail({ patientId, from: parseInstant('from', q.from), to: parseInstant('to', q.to), limit: q.limit ?? 100, ...(q.cursor ? { cursor: q.cursor } : {}) });
    res.setHeader(PROJECTED_HEADER, String(await this.queries.projectedSequence()));
    if (q.format === 'fhir' || (q.format === undefined && accept?.includes('application/fhir+json'))) {
      res.setHeader('content-type', 'application/fhir+json');
      return toAuditBundle(page.items, page.nextCursor ? nextUrl(req, page.nextCursor) : null);
    }
    return page;
  }

  @Get('patients/:patientId/disclosures')
  @Requires('read', 'Disclosures', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'HIPAA accounting of disclosures: permitted accesses for purposes other than treatment and operations (six years by default)' })
  async disclosures(@Param('patientId') patientId: string, @Query() q: TrailQueryDto, @Res({ passthrough: true }) res: Response) {
    checkId('patientId', patientId);
    const to = parseInstant('to', q.to) ?? this.clock.now();
    const from = parseInstant('from', q.from) ?? new Date(to.getTime() - SIX_YEARS_MS);
    const items = await this.queries.disclosures(patientId, from, to);
    res.setHeader(PROJECTED_HEADER, String(await this.queries.projectedSequence()));
    return {
      patientId,
      from: from.toISOString(),
      to: to.toISOString(),
      items: items.map((i) => ({ date: i.occurredAt, recipient: i.actor, purpose: i.purpose, resourceType: i.resourceType, resourceId: i.resourceId, action: i.action, eventId: i.eventId, sequence: i.sequence, emergency: i.emergency })),
    };
  }

  @Get('audit/events')
  @Requires('read', 'AuditLog')
  @ApiOperation({ summary: 'Search the whole access log (breach investigations): by actor, patient, decision, purpose, time' })
  async audit(@Query() q: AuditQueryDto, @Res({ passthrough: true }) res: Response) {
    const page = await this.queries.trail({
      ...(q.actorId ? { actorId: q.actorId } : {}),
      ...(q.patientId ? { patientId: q.patientId } : {}),
      ...(q.decision ? { decision: q.decision } : {}),
      ...(q.purpose ? { purpose: q.purpose } : {}),
      from: parseInstant('from', q.from),
      to: parseInstant('to', q.to),
      limit: q.limit ?? 100,
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    res.setHeader(PROJECTED_HEADER, String(await this.queries.projectedSequence()));
    return page;
  }

  @Get('reviews/emergency-access')
  @Requires('read', 'EmergencyReview')
  @ApiOperation({ summary: 'The break-the-glass review queue (open by default)' })
  async reviews(@Query() q: ReviewQueueQueryDto, @Res({ passthrough: true }) res: Response) {
    res.setHeader(PROJECTED_HEADER, String(await this.queries.projectedSequence()));
    return { items: await this.queries.emergencyReviews(q.status ?? 'open') };
  }

  @Post('reviews/emergency-access/:eventId')
  @HttpCode(200)
  @Requires('update', 'EmergencyReview')
  @ApiOperation({ summary: 'Close an emergency access with a verdict (an event too); 409 if already reviewed' })
  async review(@Param('eventId') eventId: string, @Body() body: ReviewDto, @Caller() caller: CommandContext) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(eventId)) throw new NotFoundError(`no access decision ${eventId}`);
    const r: { eventId: string; sequence: number } = await this.commands.execute(new ReviewEmergencyAccessCommand({ accessEventId: eventId, verdict: body.verdict, note: body.note }, caller));
    return { accessEventId: eventId, verdict: body.verdict, ...r };
  }
}

function nextUrl(req: Request, cursor: string): string {
  const url = new URL(req.originalUrl, 'http://custos.local');
  url.searchParams.set('cursor', cursor);
  return `${url.pathname}${url.search}`;
}
