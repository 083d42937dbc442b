import { Body, Controller, Delete, Get, Headers, Inject, Param, Put, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type ConsentChangeResult, ConsentHistoryQuery, ConsentReceiptQuery, CurrentConsentQuery, DatasetWithdrawalsQuery, RecordConsentCommand } from '@custos/consent';
import { ValidationError } from '@custos/errors';
import { parseInstant } from '@custos/platform';
import { type HttpReply, Requires } from '@custos/runtime';
import { isPurpose, type Purpose, PURPOSES } from '@custos/vocabulary';
import { DatasetParams, PatientParams } from '../access/access.dto.js';
import { AuditedRead, itemsOf } from '../audit/audit.interceptors.js';
import { ifMatchVersion } from '../if-match.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, FHIR_BUNDLE_SCHEMA, OBJECT_SCHEMA, SCHEMA } from '../openapi.js';
import { ConsentChangeDto, ConsentParams, ConsentQueryDto, ConsentWithdrawDto, ReceiptParams } from './consent.dto.js';

function purposeOf(raw: string): Purpose {
  if (!isPurpose(raw)) throw new ValidationError(`purpose must be one of ${PURPOSES.join(', ')}`, { purpose: raw.slice(0, 100) }, 'unknown-purpose');
  return raw;
}

/** The patient changes their own consent through the portal; a steward records a paper one, with evidence. */
function channelFor(caller: CallerContext, patientId: string, body: { capturedBy?: string; evidenceRef?: string }) {
  const own = caller.principal.roles.includes('patient') && caller.principal.patientId === patientId;
  if (own) return { channel: 'patient-portal' as const };
  if (!body.capturedBy || !body.evidenceRef) throw new ValidationError('a steward records consents captured on paper: capturedBy and evidenceRef are required', undefined, 'paper-consent-needs-evidence');
  return { channel: 'paper' as const, capturedBy: body.capturedBy, evidenceRef: body.evidenceRef };
}

const CHANGE_SCHEMA = { type: 'object', properties: { version: SCHEMA.int, eventId: SCHEMA.str, sequence: SCHEMA.int, receipt: { type: 'string', description: 'compact JWS (ES256), verifiable with /.well-known/jwks.json' } } };
const CHANGE_PROBLEMS = { 400: ['unknown-purpose', 'bad-if-match', 'expiry-in-the-past', 'paper-consent-needs-evidence', 'bad-categories'], 403: ['separation-of-duties'], 409: ['concurrency-conflict'], 422: ['purpose-not-restrictable'] };

@ApiTags('consent')
@ApiBearerAuth()
@Controller('v1')
export class ConsentController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  @Put('patients/:patientId/consents/:purpose')
  @Requires('update', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'Grant or deny a purpose (limited to categories, until expiresAt, to typed recipients); If-Match for a conditional write; answers the version and a signed receipt' })
  @ApiJson(200, 'recorded, with its receipt', CHANGE_SCHEMA)
  @ApiProblems(CHANGE_PROBLEMS)
  async change(@Param() p: ConsentParams, @Body() body: ConsentChangeDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const purpose = purposeOf(p.purpose);
    const result: ConsentChangeResult = await this.commands.execute(
      new RecordConsentCommand(
        {
          type: 'ChangeConsent',
          patientId: p.patientId,
          purpose,
          status: body.status,
          ...(body.categories ? { categories: body.categories } : {}),
          ...(body.expiresAt !== undefined ? { expiresAt: parseInstant('expiresAt', body.expiresAt) } : {}),
          ...(body.recipients ? { recipients: body.recipients.map((r) => ({ type: r.type, id: r.id })) } : {}),
          ...channelFor(caller, p.patientId, body),
        },
        ifMatchVersion(ifMatch, 'consent version'),
        caller.principal,
        caller.context,
      ),
    );
    res.header('etag', `"${result.version}"`);
    return result;
  }

  @Delete('patients/:patientId/consents/:purpose')
  @Requires('update', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'Withdraw the explicit choice for a purpose (back to the default); 404 when there is none' })
  @ApiJson(200, 'recorded, with its receipt', CHANGE_SCHEMA)
  @ApiProblems({ ...CHANGE_PROBLEMS, 404: ['nothing-to-withdraw'] })
  async withdraw(@Param() p: ConsentParams, @Body() body: ConsentWithdrawDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const purpose = purposeOf(p.purpose);
    const result: ConsentChangeResult = await this.commands.execute(new RecordConsentCommand({ type: 'WithdrawConsent', patientId: p.patientId, purpose, ...channelFor(caller, p.patientId, body ?? {}) }, ifMatchVersion(ifMatch, 'consent version'), caller.principal, caller.context));
    res.header('etag', `"${result.version}"`);
    return result;
  }

  @Get('patients/:patientId/consents')
  @Requires('read', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @AuditedRead('consent', (r) => (Array.isArray((r as { purposes?: unknown }).purposes) ? ((r as { purposes: unknown[] }).purposes.length) : itemsOf(r)))
  @ApiOperation({ summary: 'Consent per purpose as it stands, with versions; ?format=fhir for FHIR R4 Consent resources. The read is recorded.' })
  @ApiJson(200, 'consent per purpose', { type: 'object', properties: { patientId: SCHEMA.str, version: SCHEMA.int, purposes: { type: 'array', items: OBJECT_SCHEMA } } }, { 'application/fhir+json': FHIR_BUNDLE_SCHEMA })
  @ApiProblems()
  async current(@Param() p: PatientParams, @Query() q: ConsentQueryDto, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: HttpReply) {
    const fhir = q.format === 'fhir' || (q.format === undefined && accept?.includes('application/fhir+json') === true);
    const { version, answer } = await this.queries.execute(new CurrentConsentQuery(p.patientId, fhir));
    res.header('etag', `"${version}"`);
    if (fhir) res.header('content-type', 'application/fhir+json');
    return answer;
  }

  @Get('patients/:patientId/consents/history')
  @Requires('read', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @AuditedRead('consent', itemsOf)
  @ApiOperation({ summary: 'Every consent change, oldest first: who, when, through which channel. The read is recorded.' })
  @ApiJson(200, 'the history', { type: 'object', properties: { patientId: SCHEMA.str, items: { type: 'array', items: OBJECT_SCHEMA } } })
  @ApiProblems()
  history(@Param() p: PatientParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new ConsentHistoryQuery(p.patientId, caller.principal));
  }

  @Get('patients/:patientId/consents/receipts/:version')
  @Requires('read', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @AuditedRead('consent', () => 1)
  @ApiOperation({ summary: 'The signed receipt of one consent version, issued again. The read is recorded.' })
  @ApiJson(200, 'the receipt', { type: 'object', properties: { version: SCHEMA.int, eventId: SCHEMA.str, receipt: SCHEMA.str } })
  @ApiProblems({ 404: ['not-found'] })
  receipt(@Param() p: ReceiptParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new ConsentReceiptQuery(p.patientId, Number(p.version), caller.principal));
  }

  @Get('datasets/:datasetId/consent-withdrawals')
  @Requires('read', 'DatasetConsent')
  @AuditedRead('dataset-consent', itemsOf)
  @ApiOperation({ summary: 'Patients whose AI_TRAINING consent was withdrawn after images of theirs entered this dataset, with the snapshots that contain those images and the models trained or validated on those snapshots. The read is recorded.' })
  @ApiJson(200, 'the withdrawals', { type: 'object', properties: { datasetId: SCHEMA.str, items: { type: 'array', items: OBJECT_SCHEMA }, models: { type: 'array', items: OBJECT_SCHEMA } } })
  @ApiProblems()
  datasetWithdrawals(@Param() p: DatasetParams) {
    return this.queries.execute(new DatasetWithdrawalsQuery(p.datasetId));
  }
}

