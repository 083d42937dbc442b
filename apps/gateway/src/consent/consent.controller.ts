import { Body, Controller, Delete, Get, Headers, Inject, Param, Put, Query, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { CommandContext } from '@custos/access';
import { PURPOSES, Purpose } from '@custos/authz';
import { ChangeConsentCommand, ConsentChangeResult, ConsentQueries, ConsentReceipts, DATA_CATEGORIES, DataCategory, toFhirConsents, WithdrawConsentCommand } from '@custos/consent';
import { NotFoundError, ValidationError } from '@custos/errors';
import { Clock } from '@custos/platform';
import { Requires } from '@custos/runtime';
import { ArrayMaxSize, IsArray, IsIn, IsISO8601, IsOptional, IsString, Length, Matches } from 'class-validator';
import type { Response } from 'express';
import { checkId } from '../access/access.dto.js';
import { Caller } from '../auth/identity.decorator.js';

export class ConsentChangeDto {
  @IsIn(['granted', 'denied']) status!: 'granted' | 'denied';
  @IsOptional() @IsArray() @ArrayMaxSize(4) @IsIn(DATA_CATEGORIES, { each: true }) categories?: DataCategory[];
  @IsOptional() @IsISO8601({ strict: true }) expiresAt?: string;
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) @Matches(/^[A-Za-z0-9._:@-]{1,200}$/, { each: true }) recipients?: string[];
  @IsOptional() @IsString() @Length(1, 200) capturedBy?: string;
  @IsOptional() @IsString() @Length(1, 500) evidenceRef?: string;
}

export class ConsentWithdrawDto {
  @IsOptional() @IsString() @Length(1, 200) capturedBy?: string;
  @IsOptional() @IsString() @Length(1, 500) evidenceRef?: string;
}

export class ConsentQueryDto {
  @IsOptional() @IsIn(['json', 'fhir']) format?: 'json' | 'fhir';
}

function purposeOf(raw: string): Purpose {
  if (!(PURPOSES as readonly string[]).includes(raw)) throw new ValidationError(`purpose must be one of ${PURPOSES.join(', ')}`, { purpose: raw }, 'unknown-purpose');
  return raw as Purpose;
}

/** If-Match: "<version>" (or a bare number) makes the write conditional on the consent version. */
function expectedVersion(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined) return undefined;
  const m = /^(?:W\/)?"?(\d{1,9})"?$/.exec(ifMatch.trim());
  if (!m) throw new ValidationError('If-Match must be the consent version, e.g. "3"', { ifMatch }, 'bad-if-match');
  return Number(m[1]);
}

/** The patient changes their own consent through the portal; a steward records a paper one, with evidence. */
function channelFor(caller: CommandContext, patientId: string, body: { capturedBy?: string; evidenceRef?: string }) {
  const own = caller.principal.roles.includes('patient') && caller.principal.patientId === patientId;
  if (own) return { channel: 'patient-portal' as const };
  if (!body.capturedBy || !body.evidenceRef) throw new ValidationError('a steward records consents captured on paper: capturedBy and evidenceRef are required', undefined, 'paper-consent-needs-evidence');
  return { channel: 'paper' as const, capturedBy: body.capturedBy, evidenceRef: body.evidenceRef };
}

@ApiTags('consent')
@ApiBearerAuth()
@Controller('v1')
export class ConsentController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ConsentQueries) private readonly queries: ConsentQueries,
    @Inject(ConsentReceipts) private readonly receipts: ConsentReceipts,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Put('patients/:patientId/consents/:purpose')
  @Requires('update', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'Grant or deny a purpose (limited to categories, until expiresAt, to recipients); If-Match for a conditional write; answers the version and a signed receipt' })
  async change(@Param('patientId') patientId: string, @Param('purpose') rawPurpose: string, @Body() body: ConsentChangeDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CommandContext, @Res({ passthrough: true }) res: Response) {
    checkId('patientId', patientId);
    const purpose = purposeOf(rawPurpose);
    const result: ConsentChangeResult = await this.commands.execute(
      new ChangeConsentCommand(
        {
          patientId,
          purpose,
          status: body.status,
          ...(body.categories ? { categories: body.categories } : {}),
          ...(body.expiresAt ? { expiresAt: body.expiresAt } : {}),
          ...(body.recipients ? { recipients: body.recipients } : {}),
          ...channelFor(caller, patientId, body),
        },
        expectedVersion(ifMatch),
        caller,
      ),
    );
    res.setHeader('etag', `"${result.version}"`);
    return result;
  }

  @Delete('patients/:patientId/consents/:purpose')
  @Requires('update', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'Withdraw the explicit choice for a purpose (back to the default); 404 when there is none' })
  async withdraw(@Param('patientId') patientId: string, @Param('purpose') rawPurpose: string, @Body() body: ConsentWithdrawDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CommandContext, @Res({ passthrough: true }) res: Response) {
    checkId('patientId', patientId);
    const purpose = purposeOf(rawPurpose);
    const result: ConsentChangeResult = await this.commands.execute(new WithdrawConsentCommand({ patientId, purpose, ...channelFor(caller, patientId, body ?? {}) }, expectedVersion(ifMatch), caller));
    res.setHeader('etag', `"${result.version}"`);
    return result;
  }

  @Get('patients/:patientId/consents')
  @Requires('read', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'Consent per purpose as it stands, with versions; ?format=fhir for FHIR R4 Consent resources' })
  async current(@Param('patientId') patientId: string, @Query() q: ConsentQueryDto, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: Response) {
    checkId('patientId', patientId);
    const now = this.clock.now();
    const state = await this.queries.current(patientId, now);
    res.setHeader('etag', `"${state.version}"`);
    if (q.format === 'fhir' || (q.format === undefined && accept?.includes('application/fhir+json'))) {
      res.setHeader('content-type', 'application/fhir+json');
      return toFhirConsents(patientId, state.purposes, now.toISOString());
    }
    return state;
  }

  @Get('patients/:patientId/consents/history')
  @Requires('read', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'Every consent change, oldest first: who, when, through which channel' })
  async history(@Param('patientId') patientId: string) {
    checkId('patientId', patientId);
    return { patientId, items: await this.queries.history(patientId) };
  }

  @Get('patients/:patientId/consents/receipts/:version')
  @Requires('read', 'Consent', (req) => ({ patientId: req.params.patientId }))
  @ApiOperation({ summary: 'The signed receipt of one consent version, issued again' })
  async receipt(@Param('patientId') patientId: string, @Param('version') rawVersion: string) {
    checkId('patientId', patientId);
    if (!/^[1-9]\d{0,8}$/.test(rawVersion)) throw new ValidationError('version must be a positive integer', { version: rawVersion });
    const version = Number(rawVersion);
    const event = (await this.queries.events(patientId)).find((e) => e.version === version);
    if (!event) throw new NotFoundError(`no consent version ${version} for this patient`, { version });
    return { version, eventId: event.eventId, receipt: await this.receipts.receiptFor(event) };
  }

  @Get('datasets/:datasetId/consent-withdrawals')
  @Requires('read', 'DatasetConsent')
  @ApiOperation({ summary: 'Patients whose AI_TRAINING consent was withdrawn after images of theirs entered this dataset' })
  async datasetWithdrawals(@Param('datasetId') datasetId: string) {
    checkId('datasetId', datasetId);
    return { datasetId, items: await this.queries.datasetWithdrawals(datasetId) };
  }
}
