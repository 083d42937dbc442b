import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { fold } from '@custos/decider';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { canReadPersonal } from '@custos/authz';
import { Database, EventStore } from '@custos/event-store';
import { NotFoundError, ValidationError } from '@custos/errors';
import { PayloadCipher } from '@custos/keys';
import { Clock, parseInstant, parseOptionalInstant } from '@custos/platform';
import { type HttpReply, Requires } from '@custos/runtime';
import {
  ActOnIncidentCommand,
  affectedPatients,
  blastRadius,
  caseWindow,
  countAffected,
  INCIDENT_STATES,
  incidentClocks,
  incidentCodec,
  type IncidentCommand,
  type IncidentState,
  firstEvidenceAccess,
  listIncidents,
  detectionToOcsf,
  detectionStreamId,
  incidentToOcsf,
  ocsfOfLog,
  incidentDecider,
  notificationDrafts,
  OpenIncidentCommand,
  readIncident,
  RECIPIENT_CLASSES,
  type RecipientClass,
  RecordPatientProfileCommand,
  RecordWorkforceMemberCommand,
  RULE_IDS,
  SEVERITIES,
  type Severity,
  toCsv,
  evidenceFor,
} from '@custos/sentinel';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { ID, PatientParams } from '../access/access.dto.js';
import { NestedObject, Omittable } from '../dto-rules.js';
import { AuditedRead, itemsOf } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA } from '../openapi.js';

const INCIDENT_ID = /^inc-[A-Za-z0-9-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACTOR = /^[\x21-\x7e]{1,200}$/;
/** Free text an officer writes: printable, bounded; sealed when stored. */
const NOTE_LENGTH = [1, 4000] as const;

export class IncidentParams {
  @ApiProperty({ pattern: INCIDENT_ID.source }) @Matches(INCIDENT_ID, { message: 'incidentId is malformed' }) incidentId!: string;
}
export class ActorParams {
  @ApiProperty({ pattern: ACTOR.source }) @Matches(ACTOR, { message: 'actorId must be 1-200 printable ASCII characters' }) actorId!: string;
}

export class IncidentListQuery {
  @ApiPropertyOptional({ enum: INCIDENT_STATES }) @IsOptional() @IsIn(INCIDENT_STATES) state?: IncidentState;
  @ApiPropertyOptional({ enum: SEVERITIES }) @IsOptional() @IsIn(SEVERITIES) severity?: Severity;
  @ApiPropertyOptional({ enum: RULE_IDS }) @IsOptional() @IsIn(RULE_IDS) rule?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(ACTOR) actor?: string;
  @ApiPropertyOptional() @IsOptional() @Matches(ID) patient?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) from?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) to?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 400) cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 500 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(500) limit?: number;
}

export class SubjectDto {
  @ApiProperty({ enum: ['actor', 'patient'] }) @IsIn(['actor', 'patient']) kind!: 'actor' | 'patient';
  @ApiProperty() @Matches(ACTOR) id!: string;
}

export class OpenIncidentDto {
  @ApiProperty() @IsString() @Length(1, 200) title!: string;
  @ApiProperty({ enum: SEVERITIES }) @IsIn(SEVERITIES) severity!: Severity;
  @ApiProperty({ type: SubjectDto }) @NestedObject(() => SubjectDto) subject!: SubjectDto;
  @ApiPropertyOptional({ type: [String] }) @IsOptional() @IsArray() @ArrayMaxSize(10_000) @Matches(ID, { each: true }) patientIds?: string[];
  @ApiPropertyOptional({ type: [String], description: 'event ids in the log' }) @IsOptional() @IsArray() @ArrayMaxSize(1000) @Matches(UUID, { each: true }) evidence?: string[];
  @ApiPropertyOptional() @Omittable() @IsString() @Length(1, 40) discoveredAt?: string;
}

export class TransitionDto {
  @ApiProperty({ enum: INCIDENT_STATES }) @IsIn(INCIDENT_STATES) to!: IncidentState;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class EvidenceDto {
  @ApiProperty({ type: [String] }) @IsArray() @ArrayMaxSize(1000) @Matches(UUID, { each: true }) eventIds!: string[];
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class FactorsDto {
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) natureAndExtent!: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) unauthorizedPerson!: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) acquiredOrViewed!: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) mitigation!: string;
}

export class AffectedDto {
  @ApiProperty() @IsInt() @Min(0) @Max(1_000_000_000) total!: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' } }) @IsObject() byRegion!: Record<string, number>;
  @ApiProperty() @IsInt() @Min(0) @Max(1_000_000_000) euResidents!: number;
}

export class AssessmentDto {
  @ApiProperty({ type: FactorsDto }) @NestedObject(() => FactorsDto) factors!: FactorsDto;
  @ApiProperty({ enum: ['breach', 'low-probability-of-compromise'] }) @IsIn(['breach', 'low-probability-of-compromise']) decision!: 'breach' | 'low-probability-of-compromise';
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) rationale!: string;
  @ApiProperty({ type: AffectedDto }) @NestedObject(() => AffectedDto) affected!: AffectedDto;
}

export class NotificationDto {
  @ApiProperty({ enum: RECIPIENT_CLASSES }) @IsIn(RECIPIENT_CLASSES) recipientClass!: RecipientClass;
  @ApiProperty() @IsString() @Length(1, 100) channel!: string;
  @ApiProperty() @IsString() @Length(1, 40) date!: string;
  @ApiProperty({ description: 'hex SHA-256 of what was sent' }) @Matches(/^[0-9a-f]{64}$/) contentHash!: string;
}

export class HoldDto {
  @ApiProperty({ enum: ['written', 'oral'] }) @IsIn(['written', 'oral']) kind!: 'written' | 'oral';
  @ApiProperty() @IsString() @Length(1, 200) agency!: string;
  @ApiPropertyOptional({ description: "the written statement's reference (required for a written hold)" }) @IsOptional() @IsString() @Length(1, 200) reference?: string;
  @ApiProperty() @IsString() @Length(1, 40) from!: string;
  @ApiPropertyOptional() @Omittable() @IsString() @Length(1, 40) until?: string;
}

export class VerdictDto {
  @ApiProperty({ enum: ['true-positive', 'false-positive', 'duplicate'] }) @IsIn(['true-positive', 'false-positive', 'duplicate']) verdict!: 'true-positive' | 'false-positive' | 'duplicate';
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class AddPatientsDto {
  @ApiProperty({ type: [String] }) @IsArray() @ArrayMinSize(1) @ArrayMaxSize(10_000) @Matches(ID, { each: true }) patientIds!: string[];
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class NoteDto {
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class SeverityDto {
  @ApiProperty({ enum: SEVERITIES }) @IsIn(SEVERITIES) severity!: Severity;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) reason!: string;
}

export class AssigneeDto {
  @ApiProperty() @Matches(ACTOR) assignee!: string;
}

export class DiscoveryDto {
  @ApiProperty() @IsString() @Length(1, 40) discoveredAt!: string;
  @ApiPropertyOptional() @Omittable() @IsString() @Length(1, 40) awareAt?: string;
  @ApiProperty() @IsString() @Length(...NOTE_LENGTH) note!: string;
}

export class WindowQuery {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) from?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 40) to?: string;
}

export class ProfileDto {
  @ApiProperty() @IsString() @Length(1, 200) familyName!: string;
  @ApiProperty() @IsString() @Length(1, 500) address!: string;
  @ApiProperty({ description: 'state, province or jurisdiction of residence' }) @Matches(/^[A-Za-z0-9 ._-]{1,100}$/) region!: string;
  @ApiProperty({ description: 'ISO 3166-1 alpha-2' }) @Matches(/^[A-Z]{2}$/) country!: string;
  @ApiProperty() @IsBoolean() euDataSubject!: boolean;
  @ApiProperty() @IsBoolean() vip!: boolean;
  @ApiProperty() @IsBoolean() employee!: boolean;
}

export class WorkforceDto {
  @ApiProperty() @IsString() @Length(1, 200) familyName!: string;
  @ApiProperty() @IsString() @Length(1, 500) address!: string;
  @ApiProperty() @IsString() @Length(1, 200) department!: string;
  @ApiProperty({ enum: ['active', 'terminated'] }) @IsIn(['active', 'terminated']) status!: 'active' | 'terminated';
  @ApiProperty() @IsString() @Length(1, 40) since!: string;
  @ApiPropertyOptional() @IsOptional() @Matches(ID) patientId?: string;
}

const CHANGE = { type: 'object', properties: { incidentId: { type: 'string' }, version: { type: 'integer' }, state: { type: 'string' }, recorded: { type: 'integer' } } };
const wantsCsv = (accept: string | undefined, format: unknown) => format === 'csv' || (format === undefined && (accept ?? '').includes('text/csv'));

@ApiTags('reference data')
@ApiBearerAuth()
@Controller('v1')
export class ReferenceController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Put('patients/:patientId/profile')
  @Requires('update', 'PatientProfile')
  @ApiOperation({ summary: "Who a patient is, for the sentinel's rules and the breach clocks (data steward): family name and address (sealed; the rules compare keyed hashes of them), region and country of residence, EU data subject, VIP and employee flags. Recorded; the same again records nothing." })
  @ApiJson(200, 'recorded', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'] })
  profile(@Param() p: PatientParams, @Body() body: ProfileDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new RecordPatientProfileCommand(p.patientId, { ...body }, caller.context));
  }

  @Put('workforce/:actorId')
  @Requires('update', 'Workforce')
  @ApiOperation({ summary: 'A member of the workforce (admin): family name and address (sealed), department, status (active / terminated since), their own patient record if any. Rules that need it skip what is missing. Recorded.' })
  @ApiJson(200, 'recorded', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['separation-of-duties'] })
  workforce(@Param() p: ActorParams, @Body() body: WorkforceDto, @Caller() caller: CallerContext) {
    const since = parseInstant('since', body.since);
    if (since.getTime() > this.clock.now().getTime() + 86_400_000) throw new ValidationError('since lies in the future', undefined, 'bad-date');
    return this.commands.execute(
      new RecordWorkforceMemberCommand(p.actorId, { familyName: body.familyName, address: body.address, department: body.department, status: body.status, since: since.toISOString(), patientId: body.patientId ?? null }, caller.context),
    );
  }
}

@ApiTags('incidents')
@ApiBearerAuth()
@Controller('v1/incidents')
export class IncidentController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Database) private readonly db: Database,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
  ) {}

  private async incident(id: string) {
    const found = await readIncident(this.store, id);
    if (!found) throw new NotFoundError(`no incident ${id}`, undefined, 'incident-not-found');
    return found;
  }

  @Get()
  @Requires('read', 'Incident')
  @AuditedRead('incidents', itemsOf)
  @ApiOperation({ summary: 'Incidents, newest first: filters state, severity, rule, actor, patient, from/to (opened); cursor paging. The read is recorded.' })
  @ApiJson(200, 'a page', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-cursor'] })
  async list(@Query() q: IncidentListQuery) {
    const from = parseOptionalInstant('from', q.from);
    const to = parseOptionalInstant('to', q.to);
    const page = await listIncidents(this.db, { ...q, ...(from ? { from } : {}), ...(to ? { to } : {}), limit: q.limit ?? 50 } as Parameters<typeof listIncidents>[1]);
    return { items: page.items, nextCursor: page.next };
  }

  @Post()
  @Requires('create', 'Incident')
  @ApiOperation({ summary: 'Open an incident by hand (evidence by event id; the log gives sequence and hash). Recorded.' })
  @ApiJson(201, 'opened', CHANGE)
  @ApiProblems({ 400: ['bad-date'], 422: ['unknown-event'] })
  open(@Body() body: OpenIncidentDto, @Caller() caller: CallerContext) {
    const discovered = parseOptionalInstant('discoveredAt', body.discoveredAt);
    // As when it is moved later (PUT …/discovery): a discovery cannot lie in the future.
    if (discovered && discovered.getTime() > this.clock.now().getTime()) throw new ValidationError('discovery cannot lie in the future', undefined, 'bad-date');
    return this.commands.execute(
      new OpenIncidentCommand(
        { title: body.title, severity: body.severity, subject: { kind: body.subject.kind, id: body.subject.id }, patientIds: body.patientIds ?? [], evidenceEventIds: body.evidence ?? [], ...(discovered ? { discoveredAt: discovered.toISOString() } : {}) },
        caller.context,
      ),
    );
  }

  @Get(':incidentId')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', () => 1)
  @ApiOperation({ summary: 'One incident as its events make it: state, severity, subject, rules, patients, evidence, assessment, notifications, holds, verdict. The read is recorded.' })
  @ApiJson(200, 'the incident', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['incident-not-found'] })
  async get(@Param() p: IncidentParams, @Caller() caller: CallerContext) {
    const { view, events } = await this.incident(p.incidentId);
    // The title is sealed at rest: opened here for the officer (the case's view never holds it).
    const opened = events[0] ? await this.cipher.reveal(events[0], (field) => canReadPersonal(caller.principal, null, field)) : null;
    return { ...view, title: (opened?.data as { title?: unknown } | undefined)?.title ?? null, version: events.length };
  }

  private act(p: IncidentParams, caller: CallerContext, command: (now: string, by: string) => IncidentCommand) {
    return this.commands.execute(new ActOnIncidentCommand(p.incidentId, (now) => command(now, caller.principal.sub), caller.context));
  }

  @Post(':incidentId/transitions')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Move an incident to its next state with a note (409 illegal-transition: the allowed ones are named). Recorded.' })
  @ApiJson(200, 'moved', CHANGE)
  @ApiProblems({ 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['illegal-transition', 'verdict-required', 'incident-ended'] })
  transition(@Param() p: IncidentParams, @Body() body: TransitionDto, @Caller() caller: CallerContext) {
    return this.act(p, caller, (at, by) => ({ type: 'TransitionIncident', to: body.to, note: body.note, by, at }));
  }

  @Post(':incidentId/evidence')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Attach events of the log as evidence (their sequence and hash are recorded with them). Recorded.' })
  @ApiJson(200, 'attached', CHANGE)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'], 422: ['unknown-event'] })
  async evidence(@Param() p: IncidentParams, @Body() body: EvidenceDto, @Caller() caller: CallerContext) {
    const refs = await evidenceFor(this.store, body.eventIds);
    return this.act(p, caller, (at, by) => ({ type: 'AttachEvidence', evidence: refs, note: body.note, by, at }));
  }

  @Post(':incidentId/assessment')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'The breach assessment of 45 CFR 164.402(2) (the four factors, decision, rationale, affected counts by region and EU residency), once CONTAINED. Starts the clocks. Recorded.' })
  @ApiJson(200, 'assessed', CHANGE)
  @ApiProblems({ 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['illegal-transition', 'incident-ended'] })
  assess(@Param() p: IncidentParams, @Body() body: AssessmentDto, @Caller() caller: CallerContext) {
    const byRegion: Record<string, number> = {};
    for (const [k, v] of Object.entries(body.affected.byRegion ?? {})) {
      if (!/^[A-Za-z0-9 ._-]{1,100}$/.test(k) || !Number.isInteger(v) || v < 0 || v > 1_000_000_000) throw new ValidationError('affected.byRegion maps regions to counts', { region: k.slice(0, 100) }, 'bad-counts');
      byRegion[k] = v;
    }
    const assessment = { factors: { ...body.factors }, decision: body.decision, rationale: body.rationale, affected: { total: body.affected.total, byRegion, euResidents: body.affected.euResidents } };
    return this.act(p, caller, (at, by) => ({ type: 'AssessBreach', assessment, by, at }));
  }

  @Post(':incidentId/notifications')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Record a notification made (recipient class, channel, date, hash of the content); nothing is sent. Recorded.' })
  @ApiJson(200, 'recorded', CHANGE)
  @ApiProblems({ 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['not-a-breach', 'incident-ended'] })
  notify(@Param() p: IncidentParams, @Body() body: NotificationDto, @Caller() caller: CallerContext) {
    const date = parseInstant('date', body.date).toISOString();
    return this.act(p, caller, (_at, by) => ({ type: 'RecordNotification', recipientClass: body.recipientClass, channel: body.channel, date, contentHash: body.contentHash, by }));
  }

  @Post(':incidentId/holds')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({
    summary:
      "A law-enforcement hold (164.412): written, with the agency, the statement's reference and an end at most 365 days after its start (longer: a new written statement); or oral, at most 30 days in all per incident. No start in the future. Recorded; shown in the clocks' history.",
  })
  @ApiJson(200, 'recorded', CHANGE)
  @ApiProblems({ 400: ['hold-needs-end', 'hold-needs-reference', 'hold-too-long', 'bad-date'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['oral-hold-exhausted', 'incident-ended'] })
  hold(@Param() p: IncidentParams, @Body() body: HoldDto, @Caller() caller: CallerContext) {
    const from = parseInstant('from', body.from).toISOString();
    const until = body.until !== undefined ? parseInstant('until', body.until).toISOString() : undefined;
    return this.act(p, caller, (at, by) => ({ type: 'PlaceHold', kind: body.kind, agency: body.agency, ...(body.reference !== undefined ? { reference: body.reference } : {}), from, ...(until ? { until } : {}), by, at }));
  }

  @Post(':incidentId/verdict')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'The verdict: true or false positive, or duplicate (a true positive makes later detections on the actor one step more severe). Recorded.' })
  @ApiJson(200, 'recorded', CHANGE)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  verdict(@Param() p: IncidentParams, @Body() body: VerdictDto, @Caller() caller: CallerContext) {
    return this.act(p, caller, (at, by) => ({ type: 'RecordVerdict', verdict: body.verdict, note: body.note, by, at }));
  }

  @Post(':incidentId/patients')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Add patients the trail does not tie to the subject (a shared login, paper records), with a note. They join the affected list, the drafts and the clocks. Recorded.' })
  @ApiJson(200, 'added', CHANGE)
  @ApiProblems({ 400: ['note-required', 'bad-patients'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  addPatients(@Param() p: IncidentParams, @Body() body: AddPatientsDto, @Caller() caller: CallerContext) {
    return this.act(p, caller, (at, by) => ({ type: 'AddPatients', patientIds: body.patientIds, note: body.note, by, at }));
  }

  @Post(':incidentId/reopen')
  @HttpCode(200)
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Reopen an ended incident (back to INVESTIGATING), with a note. Recorded.' })
  @ApiJson(200, 'reopened', CHANGE)
  @ApiProblems({ 404: ['incident-not-found'], 403: ['separation-of-duties'], 409: ['illegal-transition'] })
  reopen(@Param() p: IncidentParams, @Body() body: NoteDto, @Caller() caller: CallerContext) {
    return this.act(p, caller, (at, by) => ({ type: 'ReopenIncident', note: body.note, by, at }));
  }

  @Put(':incidentId/severity')
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Change the severity, with a reason. Recorded.' })
  @ApiJson(200, 'changed', CHANGE)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  severity(@Param() p: IncidentParams, @Body() body: SeverityDto, @Caller() caller: CallerContext) {
    return this.act(p, caller, (at, by) => ({ type: 'ChangeSeverity', to: body.severity, reason: body.reason, by, at }));
  }

  @Put(':incidentId/assignee')
  @Requires('update', 'Incident')
  @ApiOperation({ summary: 'Assign the incident to an officer. Recorded.' })
  @ApiJson(200, 'assigned', CHANGE)
  @ApiProblems({ 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  assign(@Param() p: IncidentParams, @Body() body: AssigneeDto, @Caller() caller: CallerContext) {
    return this.act(p, caller, (at, by) => ({ type: 'AssignIncident', assignee: body.assignee, by, at }));
  }

  @Put(':incidentId/discovery')
  @Requires('update', 'Incident')
  @ApiOperation({ summary: "Date the discovery (164.404(a)(2)) and awareness (GDPR Art. 33) earlier than the first detection, with a note; never later (400 discovery-too-late) nor in the future. Recorded; shown in the clocks' history." })
  @ApiJson(200, 'dated', CHANGE)
  @ApiProblems({ 400: ['bad-date', 'note-required', 'discovery-too-late'], 403: ['separation-of-duties'], 404: ['incident-not-found'], 409: ['incident-ended'] })
  discovery(@Param() p: IncidentParams, @Body() body: DiscoveryDto, @Caller() caller: CallerContext) {
    const discoveredAt = parseInstant('discoveredAt', body.discoveredAt).toISOString();
    const awareAt = body.awareAt !== undefined ? parseInstant('awareAt', body.awareAt).toISOString() : undefined;
    return this.act(p, caller, (at, by) => ({ type: 'DateDiscovery', discoveredAt, ...(awareAt ? { awareAt } : {}), note: body.note, by, at }));
  }

  @Get(':incidentId/clocks')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', () => 4)
  @ApiOperation({ summary: 'The legal clocks: HIPAA individuals, media, HHS; GDPR Art. 33. Each not-applicable, running, met or overdue, with its deadline and any hold. The read is recorded.' })
  @ApiJson(200, 'the clocks', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['incident-not-found'] })
  async clocks(@Param() p: IncidentParams) {
    const { view } = await this.incident(p.incidentId);
    const now = this.clock.now();
    const affected = countAffected(await affectedPatients(this.db, view, now));
    return { incidentId: view.incidentId, asOf: now.toISOString(), discoveredAt: view.discoveredAt, awareAt: view.awareAt, affected, clocks: incidentClocks(view, now, affected), history: view.clockHistory };
  }

  @Get(':incidentId/blast-radius')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => ((r as { footprint?: unknown[] }).footprint ?? []).length)
  @ApiOperation({ summary: "The subject's footprint per patient (or, for a patient's case, per actor) in the window, who else touched the same patients, what left (downloads, exports), and the first anomalous access. Window: from 30 days before discovery to now by default. The read is recorded." })
  @ApiJson(200, 'the blast radius', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-window'], 404: ['incident-not-found'] })
  async blast(@Param() p: IncidentParams, @Query() q: WindowQuery) {
    const { view } = await this.incident(p.incidentId);
    const to = parseOptionalInstant('to', q.to) ?? this.clock.now();
    const from = parseOptionalInstant('from', q.from) ?? caseWindow(view, to).from;
    if (to.getTime() <= from.getTime()) throw new ValidationError('to must be after from', undefined, 'bad-window');
    return blastRadius(this.db, view, from, to);
  }

  @Get(':incidentId/affected-patients')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => (Array.isArray((r as { items?: unknown[] }).items) ? ((r as { items: unknown[] }).items.length) : String(r).split('\r\n').length - 2))
  @ApiOperation({ summary: "The incident's patients: data categories the subject touched, region, EU flag, the consent version each access cited. JSON, or CSV with Accept: text/csv (or ?format=csv). The read is recorded." })
  @ApiJson(200, 'the patients', OBJECT_SCHEMA, { 'text/csv': { type: 'string' } })
  @ApiProblems({ 404: ['incident-not-found'] })
  async affected(@Param() p: IncidentParams, @Query('format') format: unknown, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: HttpReply) {
    const { view } = await this.incident(p.incidentId);
    const items = await affectedPatients(this.db, view, this.clock.now());
    if (wantsCsv(accept, format)) {
      res.header('content-type', 'text/csv; charset=utf-8');
      return toCsv(
        ['patientId', 'region', 'country', 'euDataSubject', 'dataCategories', 'accesses', 'consentVersions'],
        items.map((i) => ({ ...i, accesses: i.accesses.length, consentVersions: [...new Set(i.accesses.map((a) => a.consentVersion))] })),
      );
    }
    return { incidentId: view.incidentId, items };
  }

  @Get(':incidentId/notification-draft')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', () => 2)
  @ApiOperation({ summary: 'Drafts of the HIPAA 164.404(c) individual notice and the GDPR Art. 33(3) notification, from what the incident records (breach and discovery dates, kinds of information, counts); sections a person must write are marked; nothing is sent. The read is recorded.' })
  @ApiJson(200, 'the drafts', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['incident-not-found'] })
  async draft(@Param() p: IncidentParams) {
    const { view } = await this.incident(p.incidentId);
    const patients = await affectedPatients(this.db, view, this.clock.now());
    const drafts = notificationDrafts(view, {
      affected: countAffected(patients),
      breachStart: await firstEvidenceAccess(this.db, view),
      dataCategories: [...new Set(patients.flatMap((x) => x.dataCategories))].sort(),
      records: patients.reduce((n, x) => n + x.accesses.length, 0),
    });
    return { incidentId: view.incidentId, drafts };
  }

  @Get(':incidentId/export')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => String(r).split('\n').filter(Boolean).length)
  @ApiOperation({ summary: 'The incident for a SIEM: NDJSON of OCSF 1.8.0 events, an Incident Finding (2005) per step of the case with its status and verdict, and a Detection Finding (2004) per linked detection. ?format=ocsf (the only format). The read is recorded.' })
  @ApiJson(200, 'NDJSON', { type: 'string' })
  @ApiProblems({ 400: ['bad-format'], 404: ['incident-not-found'] })
  async export(@Param() p: IncidentParams, @Query('format') format: unknown, @Res({ passthrough: true }) res: HttpReply) {
    if (format !== undefined && format !== 'ocsf') throw new ValidationError('format must be ocsf', undefined, 'bad-format');
    const { view, events } = await this.incident(p.incidentId);
    const lines: string[] = [];
    for (const id of view.detectionIds) {
      const [e] = await this.store.readStream(detectionStreamId(id));
      if (e) lines.push(JSON.stringify(detectionToOcsf(e)));
    }
    // The case as it stood after each of its events: evolved one event at a time.
    let upTo = incidentDecider.initialState;
    for (const e of events) {
      upTo = incidentDecider.evolve(upTo, incidentCodec.decode(e));
      if (upTo) lines.push(JSON.stringify(incidentToOcsf(e, upTo)));
    }
    res.header('content-type', 'application/x-ndjson');
    return `${lines.join('\n')}\n`;
  }

  @Get(':incidentId/timeline')
  @Requires('read', 'Incident')
  @AuditedRead('incidents', (r) => (Array.isArray((r as { items?: unknown[] }).items) ? ((r as { items: unknown[] }).items.length) : String(r).split('\r\n').length - 2))
  @ApiOperation({ summary: "The incident's events in order, with the officers' notes (sealed at rest, opened for security officers). JSON, or CSV with Accept: text/csv. The read is recorded." })
  @ApiJson(200, 'the timeline', OBJECT_SCHEMA, { 'text/csv': { type: 'string' } })
  @ApiProblems({ 404: ['incident-not-found'] })
  async timeline(@Param() p: IncidentParams, @Query('format') format: unknown, @Headers('accept') accept: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const { events } = await this.incident(p.incidentId);
    const items = [];
    for (const e of events) {
      const shown = await this.cipher.reveal(e, (field) => canReadPersonal(caller.principal, null, field));
      const decoded = incidentCodec.decode(shown);
      items.push({ sequence: e.globalSeq, eventId: e.eventId, hash: e.hash, at: e.occurredAt, by: e.metadata.actor.id, type: e.type, data: decoded.data });
    }
    if (wantsCsv(accept, format)) {
      res.header('content-type', 'text/csv; charset=utf-8');
      return toCsv(['sequence', 'at', 'type', 'by', 'eventId', 'hash', 'data'], items);
    }
    return { incidentId: p.incidentId, items };
  }
}

export class SiemQuery {
  @ApiPropertyOptional({ description: 'the last sequence already received (-1 or absent: from the start)' }) @IsOptional() @Type(() => Number) @IsInt() @Min(-1) @Max(Number.MAX_SAFE_INTEGER) after?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 5000 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(5000) limit?: number;
}

@ApiTags('incidents')
@ApiBearerAuth()
@Controller('v1/siem')
export class SiemController {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

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
    const after = q.after ?? -1;
    const page = await this.store.readAll(after + 1, q.limit ?? 1000);
    const streams = new Map<string, Awaited<ReturnType<EventStore['readStream']>>>();
    const ocsf = await ocsfOfLog(page, async (incidentId, version) => {
      let events = streams.get(incidentId);
      if (!events) streams.set(incidentId, (events = await this.store.readStream(`incident-${incidentId}`)));
      return fold(incidentDecider, events.filter((e) => e.version <= version).map((e) => incidentCodec.decode(e)));
    });
    res.header('content-type', 'application/x-ndjson');
    res.header('x-custos-next-after', String(page.length > 0 ? (page[page.length - 1]?.globalSeq ?? after) : after));
    return ocsf.map((o) => JSON.stringify(o)).join('\n') + (ocsf.length > 0 ? '\n' : '');
  }
}
