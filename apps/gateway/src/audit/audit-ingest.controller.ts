import { Body, Controller, Headers, HttpCode, Inject, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { IngestAuditEventsCommand, type IngestResult, INGEST_LIMITS, toIngestResponseBundle } from '@custos/access';
import { type HttpReply, Requires } from '@custos/runtime';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, FHIR_BUNDLE_SCHEMA, SCHEMA } from '../openapi.js';

const FHIR_RESOURCE = {
  type: 'object',
  description: `A FHIR R4 AuditEvent (id required), or a Bundle of type batch or transaction whose entries are AuditEvents (at most ${INGEST_LIMITS.entries})`,
  required: ['resourceType'],
  properties: { resourceType: { type: 'string', enum: ['AuditEvent', 'Bundle'] }, id: SCHEMA.str, type: SCHEMA.str, entry: { type: 'array', items: { type: 'object' } } },
};

const INGEST_RESULT = {
  type: 'object',
  required: ['kind', 'accepted', 'duplicates', 'entries'],
  properties: {
    kind: { type: 'string', enum: ['AuditEvent', 'batch', 'transaction'] },
    accepted: SCHEMA.int,
    duplicates: SCHEMA.int,
    entries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'auditEventId', 'eventId', 'sequence', 'patientId', 'duplicate'],
        properties: { path: SCHEMA.str, auditEventId: SCHEMA.str, eventId: SCHEMA.str, sequence: SCHEMA.int, patientId: SCHEMA.nullable(SCHEMA.str), duplicate: SCHEMA.bool },
      },
    },
  },
};

/**
 * The front door for systems Custos cannot stand in front of: their accesses, reported as
 * FHIR AuditEvents, recorded as reported (never as decided). Only the role `audit-source`.
 */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit')
export class AuditIngestController {
  constructor(@Inject(CommandBus) private readonly commands: CommandBus) {}

  @Post('ingest')
  @HttpCode(200)
  @Requires('create', 'AuditIngest')
  @ApiOperation({
    summary:
      'Report accesses as FHIR R4 AuditEvents (IHE BALP): one AuditEvent or a batch/transaction Bundle, all or nothing. Each becomes an AccessReported event in the patient\'s trail, marked as reported by the caller. Idempotent per caller and AuditEvent id: a retry answers the original with duplicate: true. Invalid: 400 invalid-audit-event, a problem that is also an OperationOutcome (issue[].expression holds FHIR paths).',
  })
  @ApiConsumes('application/fhir+json', 'application/json')
  @ApiBody({ required: true, schema: FHIR_RESOURCE })
  @ApiJson(200, 'recorded (or recognised as a retry): one entry per AuditEvent, in the order posted; for a Bundle with Accept: application/fhir+json, a batch-response or transaction-response Bundle', INGEST_RESULT, {
    'application/fhir+json': FHIR_BUNDLE_SCHEMA,
  })
  @ApiProblems({ 400: ['invalid-audit-event'] })
  async ingest(@Body() body: Record<string, unknown>, @Headers('accept') accept: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const result: IngestResult = await this.commands.execute(new IngestAuditEventsCommand(body, caller.principal, caller.context));
    if (result.kind !== 'AuditEvent' && accept?.includes('application/fhir+json')) {
      res.header('content-type', 'application/fhir+json');
      return toIngestResponseBundle(result.kind, result.entries);
    }
    return result;
  }
}
