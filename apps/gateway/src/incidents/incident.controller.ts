import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type HttpReply, Requires } from '@custos/runtime';
import {
  ActOnIncidentCommand,
  AffectedPatientsQuery,
  BlastRadiusQuery,
  IncidentClocksQuery,
  IncidentExportQuery,
  IncidentQuery,
  IncidentTimelineQuery,
  ListIncidentsQuery,
  NotificationDraftsQuery,
  OpenIncidentCommand,
  RecordPatientProfileCommand,
  RecordWorkforceMemberCommand,
  RenderedText,
  SiemEventsQuery,
  type TableFormat,
} from '@custos/sentinel';
import { PatientParams } from '../access/access.dto.js';
import { AuditedRead, itemsOf } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA } from '../openapi.js';
import {
  ActorParams,
  AddPatientsDto,
  AssessmentDto,
  AssigneeDto,
  DiscoveryDto,
  EvidenceDto,
  HoldDto,
  IncidentListQuery,
  IncidentParams,
  NoteDto,
  NotificationDto,
  OpenIncidentDto,
  ProfileDto,
  SeverityDto,
  SiemQuery,
  TransitionDto,
  VerdictDto,
  WindowQuery,
  WorkforceDto,
} from './incident.dto.js';

const CHANGE = { type: 'object', properties: { incidentId: { type: 'string' }, version: { type: 'integer' }, state: { type: 'string' }, recorded: { type: 'integer' } } };
/** CSV when asked for by ?format=csv, or by Accept: text/csv without a format; JSON otherwise. */
const tableFormat = (accept: string | undefined, format: unknown): TableFormat => (format === 'csv' || (format === undefined && (accept ?? '').includes('text/csv')) ? 'csv' : 'json');

/** An answer the handler rendered (CSV, NDJSON) goes out as text with its media type and headers; any other as JSON. */
function send<T>(res: HttpReply, answer: T | RenderedText): T | string {
  if (!(answer instanceof RenderedText)) return answer;
  res.header('content-type', answer.mediaType);
  for (const [name, value] of Object.entries(answer.headers)) res.header(name, value);
  return answer.text;
}

@ApiTags('reference data')
@ApiBearerAuth()
@Controller('v1')
export class ReferenceController {
  constructor(@Inject(CommandBus) private readonly commands: CommandBus) {}

  @Put('patients/:patientId/profile')
  @Requires('update', 'PatientProfile')
  @ApiOperation({ summary: "Who a patient is, for the sentinel's rules and the breach clocks (data steward): family name and address (sealed; the rules compare keyed hashes of them), region and country of residence, EU data subject, VIP and employee flags. Recorded; the same again records nothing." })
  @ApiJson(200, 'recorded', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'] })
  profile(@Param() p: PatientParams, @Body() body: ProfileDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new RecordPatientProfileCommand(p.patientId, body, caller.context));
  }

  @Put('workforce/:actorId')
  @Requires('update', 'Workforce')
  @ApiOperation({ summary: 'A member of the workforce (admin): family name and address (sealed), department, status (active / terminated since), their own patient record if any. Rules that need it skip what is missing. Recorded.' })
  @ApiJson(200, 'recorded', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-date'], 403: ['separation-of-duties'] })
  workforce(@Param() p: ActorParams, @Body() body: WorkforceDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new RecordWorkforceMemberCommand(p.actorId, body, caller.context));
  }
}

@ApiTags('incidents')
@ApiBearerAuth()
@Controller('v1/incidents')
export class IncidentController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  @Get()
  @Requires('read', 'Incident')
  @AuditedRead('incidents', itemsOf)
  @ApiOperation({ summary: 'Incidents, newest first: filters state, severity, rule, actor, patient, from/to (opened); cursor paging. The read is recorded.' })
  @ApiJson(200, 'a page', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-cursor'] })
  list(@Query() q: IncidentListQuery, @Caller() caller: CallerContext) {
    return this.queries.execute(new ListIncidentsQuery(q, caller.principal));
  }

  @Post()
  @Requires('create', 'Incident')
  @ApiOperation({ summary: 'Open an incident by hand (evidence by event id; the log gives sequence and hash). Recorded.' })
  @ApiJson(201, 'opened', CHANGE)
  @ApiProblems({ 400: ['bad-date'], 422: ['unknown-event'] })
  open(@Body() body: OpenIncidentDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new OpenIncidentCommand(body, caller.context));
  }

  @Get(':incidentId')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', () => 1)
  @ApiOperation({ summary: 'One incident as its events make it: state, severity, subject, rules, patients, evidence, assessment, notifications, holds, verdict. The read is recorded.' })
  @ApiJson(200, 'the incident', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'] })
  get(@Param() p: IncidentParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new IncidentQuery(p.incidentId, caller.principal));
  }

  @Post(':incidentId/transitions')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Move an incident to its next state with a note (409 illegal-transition: the allowed ones are named). Recorded.' })
  @ApiJson(200, 'moved', CHANGE)
  @ApiProblems({ 400: ['note-required'], 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['illegal-transition', 'verdict-required', 'incident-ended'] })
  transition(@Param() p: IncidentParams, @Body() body: TransitionDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'TransitionIncident', to: body.to, note: body.note }, caller.context));
  }

  @Post(':incidentId/evidence')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Attach events of the log as evidence (their sequence and hash are recorded with them). Recorded.' })
  @ApiJson(200, 'attached', CHANGE)
  @ApiProblems({ 400: ['note-required', 'no-evidence'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'], 422: ['unknown-event'] })
  evidence(@Param() p: IncidentParams, @Body() body: EvidenceDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'AttachEvidence', eventIds: body.eventIds, note: body.note }, caller.context));
  }

  @Post(':incidentId/assessment')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'The breach assessment of 45 CFR 164.402(2) (the four factors, decision, rationale, affected counts by region and EU residency), once CONTAINED. Starts the clocks. Recorded.' })
  @ApiJson(200, 'assessed', CHANGE)
  @ApiProblems({ 400: ['bad-counts', 'bad-assessment', 'note-required'], 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['illegal-transition', 'incident-ended'] })
  assess(@Param() p: IncidentParams, @Body() body: AssessmentDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'AssessBreach', assessment: body }, caller.context));
  }

  @Post(':incidentId/notifications')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Record a notification made (recipient class, channel, date, hash of the content); nothing is sent. The date is when it was sent: not in the future, not before the discovery (400 bad-date). Recorded.' })
  @ApiJson(200, 'recorded', CHANGE)
  @ApiProblems({ 400: ['bad-date'], 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['not-a-breach', 'incident-ended'] })
  notify(@Param() p: IncidentParams, @Body() body: NotificationDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'RecordNotification', ...body }, caller.context));
  }

  @Post(':incidentId/holds')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({
    summary:
      "A law-enforcement hold (164.412): written, with the agency, the statement's reference and an end at most 365 days after its start (longer: a new written statement); or oral, at most 30 days in all per incident. No start in the future. Recorded; shown in the clocks' history.",
  })
  @ApiJson(200, 'recorded', CHANGE)
  @ApiProblems({ 400: ['hold-needs-end', 'hold-needs-reference', 'hold-too-long', 'bad-date', 'note-required'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['oral-hold-exhausted', 'incident-ended'] })
  hold(@Param() p: IncidentParams, @Body() body: HoldDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'PlaceHold', ...body }, caller.context));
  }

  @Post(':incidentId/verdict')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'The verdict: true or false positive, or duplicate (a true positive makes later detections on the actor one step more severe). Recorded.' })
  @ApiJson(200, 'recorded', CHANGE)
  @ApiProblems({ 400: ['note-required'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  verdict(@Param() p: IncidentParams, @Body() body: VerdictDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'RecordVerdict', verdict: body.verdict, note: body.note }, caller.context));
  }

  @Post(':incidentId/patients')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Add patients the trail does not tie to the subject (a shared login, paper records), with a note. They join the affected list, the drafts and the clocks. Recorded.' })
  @ApiJson(200, 'added', CHANGE)
  @ApiProblems({ 400: ['note-required', 'bad-patients'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  addPatients(@Param() p: IncidentParams, @Body() body: AddPatientsDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'AddPatients', patientIds: body.patientIds, note: body.note }, caller.context));
  }

  @Post(':incidentId/reopen')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Reopen an ended incident (back to INVESTIGATING), with a note. Recorded.' })
  @ApiJson(200, 'reopened', CHANGE)
  @ApiProblems({ 400: ['note-required'], 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['illegal-transition'] })
  reopen(@Param() p: IncidentParams, @Body() body: NoteDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'ReopenIncident', note: body.note }, caller.context));
  }

  @Put(':incidentId/severity')
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Change the severity, with a reason. Recorded.' })
  @ApiJson(200, 'changed', CHANGE)
  @ApiProblems({ 400: ['note-required'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  severity(@Param() p: IncidentParams, @Body() body: SeverityDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'ChangeSeverity', to: body.severity, reason: body.reason }, caller.context));
  }

  @Put(':incidentId/assignee')
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Assign the incident to an officer. Recorded.' })
  @ApiJson(200, 'assigned', CHANGE)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  assign(@Param() p: IncidentParams, @Body() body: AssigneeDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'AssignIncident', assignee: body.assignee }, caller.context));
  }

  @Put(':incidentId/discovery')
  @Requires('update', 'Incident')
  @ApiOperation({ summary: "Date the discovery (164.404(a)(2)) and awareness (GDPR Art. 33) earlier than the first detection, with a note; never later (400 discovery-too-late) nor in the future. Recorded; shown in the clocks' history." })
  @ApiJson(200, 'dated', CHANGE)
  @ApiProblems({ 400: ['bad-date', 'note-required', 'discovery-too-late'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  discovery(@Param() p: IncidentParams, @Body() body: DiscoveryDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, { type: 'DateDiscovery', ...body }, caller.context));
  }

  @Get(':incidentId/clocks')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', () => 4)
  @ApiOperation({ summary: 'The legal clocks: HIPAA individuals, media, HHS; GDPR Art. 33. Each not-applicable, running, met or overdue, with its deadline and any hold. The read is recorded.' })
  @ApiJson(200, 'the clocks', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'] })
  clocks(@Param() p: IncidentParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new IncidentClocksQuery(p.incidentId, caller.principal));
  }

  @Get(':incidentId/blast-radius')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => ((r as { footprint?: unknown[] }).footprint ?? []).length)
  @ApiOperation({ summary: "The subject's footprint per patient (or, for a patient's case, per actor) in the window, who else touched the same patients, what left (downloads, exports), and the first anomalous access. Window: from 30 days before discovery to now by default. The read is recorded." })
  @ApiJson(200, 'the blast radius', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'], 400: ['bad-window'], 404: ['incident-not-found'] })
  blast(@Param() p: IncidentParams, @Query() q: WindowQuery, @Caller() caller: CallerContext) {
    return this.queries.execute(new BlastRadiusQuery(p.incidentId, q, caller.principal));
  }

  @Get(':incidentId/affected-patients')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => (Array.isArray((r as { items?: unknown[] }).items) ? ((r as { items: unknown[] }).items.length) : String(r).split('\r\n').length - 2))
  @ApiOperation({ summary: "The incident's patients: data categories the subject touched, region, EU flag, the consent version each access cited. JSON, or CSV with Accept: text/csv (or ?format=csv). The read is recorded." })
  @ApiJson(200, 'the patients', OBJECT_SCHEMA, { 'text/csv': { type: 'string' } })
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'] })
  async affected(@Param() p: IncidentParams, @Query('format') format: unknown, @Headers('accept') accept: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    return send(res, await this.queries.execute(new AffectedPatientsQuery(p.incidentId, tableFormat(accept, format), caller.principal)));
  }

  @Get(':incidentId/notification-draft')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', () => 2)
  @ApiOperation({ summary: 'Drafts of the HIPAA 164.404(c) individual notice and the GDPR Art. 33(3) notification, from what the incident records (breach and discovery dates, kinds of information, counts); sections a person must write are marked; nothing is sent. The read is recorded.' })
  @ApiJson(200, 'the drafts', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'] })
  draft(@Param() p: IncidentParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new NotificationDraftsQuery(p.incidentId, caller.principal));
  }

  @Get(':incidentId/export')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => String(r).split('\n').filter(Boolean).length)
  @ApiOperation({ summary: 'The incident for a SIEM: NDJSON of OCSF 1.8.0 events, an Incident Finding (2005) per step of the case with its status and verdict, and a Detection Finding (2004) per linked detection. ?format=ocsf (the only format). The read is recorded.' })
  @ApiJson(200, 'NDJSON', { type: 'string' })
  @ApiProblems({ 403: ['separation-of-duties'], 400: ['bad-format'], 404: ['incident-not-found'] })
  async export(@Param() p: IncidentParams, @Query('format') format: unknown, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    return send(res, await this.queries.execute(new IncidentExportQuery(p.incidentId, format, caller.principal)));
  }

  @Get(':incidentId/timeline')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => (Array.isArray((r as { items?: unknown[] }).items) ? ((r as { items: unknown[] }).items.length) : String(r).split('\r\n').length - 2))
  @ApiOperation({ summary: "The incident's events in order, with the officers' notes (sealed at rest, opened for security officers). JSON, or CSV with Accept: text/csv. The read is recorded." })
  @ApiJson(200, 'the timeline', OBJECT_SCHEMA, { 'text/csv': { type: 'string' } })
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'] })
  async timeline(@Param() p: IncidentParams, @Query('format') format: unknown, @Headers('accept') accept: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    return send(res, await this.queries.execute(new IncidentTimelineQuery(p.incidentId, tableFormat(accept, format), caller.principal)));
  }
}

@ApiTags('incidents')
@ApiBearerAuth()
@Controller('v1/siem')
export class SiemController {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  @Get('events')
  @Requires('read', 'AuditLog')
  @AuditedRead('audit-log', (r) => String(r).split('\n').filter(Boolean).length)
  @ApiOperation({
    summary:
      'A continuous export for a SIEM: NDJSON of OCSF 1.8.0 events after a sequence (each access decision as Web Resource Access Activity 6004, grant or deny; each detection as Detection Finding 2004; each incident step as Incident Finding 2005). Resume with ?after= the x-custos-next-after header. The read is recorded.',
  })
  @ApiJson(200, 'NDJSON', { type: 'string' })
  @ApiProblems()
  async events(@Query() q: SiemQuery, @Res({ passthrough: true }) res: HttpReply) {
    return send(res, await this.queries.execute(new SiemEventsQuery(q)));
  }
}
