import { Body, Controller, Get, Headers, Inject, Param, Put, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BalancePlanQuery, BalanceReportCommand, PrivacyLedgerQuery, ReferencePopulationQuery, SetReferencePopulationCommand } from '@custos/fairness';
import { type HttpReply, Requires } from '@custos/runtime';
import { DatasetParams } from '../access/access.dto.js';
import { AuditedRead, itemsOf } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ifMatchVersion } from '../if-match.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA, SCHEMA } from '../openapi.js';
import { BalancePlanQueryDto, BalanceQueryDto, ReferencePopulationDto } from './balance.dto.js';

/** What a balance query's parameters can be refused with (nothing spent). */
const QUERY_PROBLEMS = ['bad-epsilon', 'bad-by', 'validation-failed'];

@ApiTags('bias')
@ApiBearerAuth()
@Controller('v1/datasets/:datasetId')
export class BalanceController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  @Get('balance')
  @Requires('read', 'DatasetBalance')
  @ApiOperation({
    summary:
      "The dataset's balance under differential privacy: patients, images and approved annotations per label in each demographic cell, each count with discrete Laplace noise (privacy unit: the patient; contributions clipped), its sd and 95% interval; representation against the reference population and label prevalence per group, flags where a whole interval is under BIAS_MIN_REPRESENTATION. Spends ε from the requester's and the dataset's budgets; the release (never the true counts) is recorded before the answer",
  })
  @ApiJson(200, 'the release', OBJECT_SCHEMA)
  @ApiProblems({ 400: [...QUERY_PROBLEMS, 'dataset-empty'], 403: ['not-on-dataset', 'privacy-budget-exhausted'], 404: ['not-found'], 409: ['concurrency-conflict'], 503: ['reports-busy'] })
  balance(@Param() p: DatasetParams, @Query() q: BalanceQueryDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new BalanceReportCommand(p.datasetId, q.epsilon, q.by, caller.principal, caller.context));
  }

  @Get('balance/plan')
  @Requires('read', 'DatasetBalance')
  @ApiOperation({
    summary:
      "What a balance release at ε would do, from public parameters only (spends nothing, records nothing in the ledger): the noise per part (sd, 95% half-width); per cell the expected relative error, the cells estimated from the latest release of the same dimensions (already public) or from ?total=; per reference group the chance the noise flips its flag at the estimated ratio, and the flag probability against the true ratio (0.5 to 1.2)",
  })
  @ApiJson(200, 'the plan', OBJECT_SCHEMA)
  @ApiProblems({ 400: [...QUERY_PROBLEMS, 'bad-total'], 403: ['not-on-dataset'], 404: ['not-found'] })
  plan(@Param() p: DatasetParams, @Query() q: BalancePlanQueryDto, @Caller() caller: CallerContext) {
    return this.queries.execute(new BalancePlanQuery(p.datasetId, q.epsilon, q.by, caller.principal, q.total));
  }

  @Get('privacy-ledger')
  @Requires('read', 'DatasetBalance')
  @AuditedRead('privacy-ledger', itemsOf)
  @ApiOperation({ summary: "The dataset's privacy ledger, read from its privacy stream: each release (who, when, ε, dimensions), ε spent per requester and in all, the caps and what is left. Researchers see their own entries and the dataset's totals. The read is recorded" })
  @ApiJson(200, 'the ledger', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['not-on-dataset'], 404: ['not-found'] })
  ledger(@Param() p: DatasetParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new PrivacyLedgerQuery(p.datasetId, caller.principal));
  }

  @Put('reference-population')
  @Requires('update', 'ReferencePopulation')
  @ApiOperation({ summary: "The dataset's reference population (e.g. the catchment's census): shares per group with their source. An event, versioned; If-Match makes it conditional (412 when stale)" })
  @ApiJson(200, 'recorded', { type: 'object', properties: { datasetId: SCHEMA.str, version: SCHEMA.int } })
  @ApiProblems({ 400: ['bad-reference', 'validation-failed'], 404: ['not-found'], 409: ['concurrency-conflict'], 412: ['stale-version'] })
  async setReference(@Param() p: DatasetParams, @Body() body: ReferencePopulationDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const r: { datasetId: string; version: number } = await this.commands.execute(new SetReferencePopulationCommand(p.datasetId, body.source, body.shares, ifMatchVersion(ifMatch), caller.context));
    res.header('etag', `"${r.version}"`);
    return r;
  }

  @Get('reference-population')
  @Requires('read', 'ReferencePopulation')
  @ApiOperation({ summary: "The dataset's reference population as it stands, with its version" })
  @ApiJson(200, 'the reference population', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['not-on-dataset'], 404: ['not-found', 'no-reference'] })
  async reference(@Param() p: DatasetParams, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const found = (await this.queries.execute(new ReferencePopulationQuery(p.datasetId, caller.principal))) as { version: number };
    res.header('etag', `"${found.version}"`);
    return found;
  }
}
