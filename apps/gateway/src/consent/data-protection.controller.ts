import { Body, Controller, HttpCode, Inject, Param, Post, Put } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ErasePatientDataCommand, RotateKeysCommand, SetLegalHoldCommand } from '@custos/consent';
import { Requires } from '@custos/runtime';
import { PatientParams } from '../access/access.dto.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, SCHEMA } from '../openapi.js';
import { ErasureDto, LegalHoldDto, RotateDto } from './data-protection.dto.js';

const CHANGE = { type: 'object', properties: { version: SCHEMA.int, eventId: { type: ['string', 'null'] }, sequence: { type: ['integer', 'null'] } } };

@ApiTags('data protection')
@ApiBearerAuth()
@Controller('v1')
export class DataProtectionController {
  constructor(@Inject(CommandBus) private readonly commands: CommandBus) {}

  @Post('patients/:patientId/erasure')
  @HttpCode(200)
  @Requires('create', 'Erasure')
  @ApiOperation({
    summary:
      "Erase a patient's personal data (GDPR Art. 17) by destroying their data key: every event stays and the chain verifies, the trail keeps its clear metadata, personal fields read {\"erased\": true}. Security incident records are kept under the legal-claims exception (GDPR Art. 17(3)(e)): the answer's `retained` names the cases. 409 legal-hold while a hold is set. Recorded.",
  })
  @ApiJson(200, 'erased', {
    type: 'object',
    properties: {
      ...CHANGE.properties,
      keysDestroyed: { type: 'array', items: SCHEMA.str },
      retained: { type: 'object', properties: { basis: SCHEMA.str, what: SCHEMA.str, incidents: { type: 'array', items: SCHEMA.str } } },
    },
  })
  @ApiProblems({ 409: ['legal-hold'] })
  erase(@Param() p: PatientParams, @Body() body: ErasureDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ErasePatientDataCommand(p.patientId, body.reference, caller.context));
  }

  @Put('patients/:patientId/legal-hold')
  @Requires('update', 'LegalHold')
  @ApiOperation({ summary: "Set or lift a legal hold on a patient's data (erasure is refused while it is set). Recorded; setting what is set records nothing." })
  @ApiJson(200, 'the hold as it stands', CHANGE)
  @ApiProblems()
  hold(@Param() p: PatientParams, @Body() body: LegalHoldDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new SetLegalHoldCommand(p.patientId, body.active, body.reference, caller.context));
  }

  @Post('admin/keys/rotate')
  @HttpCode(200)
  @Requires('update', 'Keys')
  @ApiOperation({
    summary:
      'Rotate keys. kek: every wrapped key is wrapped again under the new key-encryption key, no event touched (embedded: a new KEK is generated; KEK_FILE: deploy the new ring first). signing: new signing keys from now on, the old public keys stay in the JWKS. Recorded.',
  })
  @ApiJson(200, 'rotated', { type: 'object', properties: { kind: SCHEMA.str, previous: { type: 'array', items: SCHEMA.str }, active: { type: 'array', items: SCHEMA.str }, rewrapped: SCHEMA.int, eventId: SCHEMA.str } })
  @ApiProblems()
  rotate(@Body() body: RotateDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new RotateKeysCommand(body.kind, caller.context));
  }
}
