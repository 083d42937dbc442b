import { Body, Controller, Get, Inject, Post } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ValidationError } from '@custos/errors';
import { DevIssuer, ROLES } from '@custos/identity';
import { JwksQuery } from '@custos/keys';
import { Clock } from '@custos/platform';
import { Public } from '@custos/runtime';
import { ApiJson, ApiProblems, SCHEMA } from '../openapi.js';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

export class DevTokenDto {
  @IsString() @Matches(/^[A-Za-z0-9._@:-]{1,200}$/) sub!: string;
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(9) @IsIn(ROLES, { each: true }) roles!: string[];
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9._-]{1,100}$/) patient_id?: string;
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) credentials?: string[];
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(86400) ttlSeconds?: number;
}

@ApiTags('identity')
@Public()
@Controller('.well-known')
export class JwksController {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  @Get('jwks.json')
  @ApiOperation({ summary: 'Every public key still needed to verify something Custos signed: consent receipts (active and rotated out) and dev-issuer tokens' })
  @ApiJson(200, 'a JWKS', { type: 'object', properties: { keys: { type: 'array', items: { type: 'object' } } } })
  jwks(): Promise<{ keys: object[] }> {
    return this.queries.execute(new JwksQuery());
  }
}

/** Registered only where the dev issuer is on; elsewhere the route does not exist (404). */
@ApiTags('identity')
@Public()
@Controller('v1/dev/tokens')
export class DevTokensController {
  constructor(
    @Inject(Clock) private readonly clock: Clock,
    @Inject(DevIssuer) private readonly devIssuer: DevIssuer,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Development only: issue a signed token (its issuer is the dev issuer, never the production one)' })
  @ApiJson(201, 'a signed token', { type: 'object', properties: { token: SCHEMA.str } })
  @ApiProblems({}, { authenticated: false })
  async token(@Body() body: DevTokenDto): Promise<{ token: string }> {
    if (body.roles.includes('patient') && !body.patient_id) throw new ValidationError('a patient token needs patient_id', { field: 'patient_id' });
    return { token: await this.devIssuer.issue(body, Math.floor(this.clock.now().getTime() / 1000)) };
  }
}
