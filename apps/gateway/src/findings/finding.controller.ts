import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Requires } from '@custos/runtime';
import { FindingQuery, ListFindingsQuery, TransitionFindingCommand } from '@custos/sentinel';
import { AuditedRead, itemsOf } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA } from '../openapi.js';
import { FindingListQuery, FindingParams, FindingTransitionDto } from './finding.dto.js';

const CHANGE = { type: 'object', properties: { findingId: { type: 'string' }, state: { type: 'string' }, version: { type: 'integer' } } };

/** Fairness findings: what the sentinel's dataset rules raised, for data stewards (and regulators to read). */
@ApiTags('findings')
@ApiBearerAuth()
@Controller('v1/findings')
export class FindingController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  @Get()
  @Requires('read', 'Finding')
  @AuditedRead('findings', itemsOf)
  @ApiOperation({ summary: 'Findings of the dataset rules, newest first: filters state, rule, datasetId, modelId; cursor paging with the total matching. The read is recorded.' })
  @ApiJson(200, 'a page', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-cursor'] })
  list(@Query() q: FindingListQuery) {
    return this.queries.execute(new ListFindingsQuery(q));
  }

  @Get(':findingId')
  @Requires('read', 'Finding')
  @AuditedRead('findings', () => 1)
  @ApiOperation({ summary: 'One finding as its events make it: rule, summary, facts, evidence (event ids, sequences, hashes), state and every step with its note. The read is recorded.' })
  @ApiJson(200, 'the finding', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['finding-not-found'] })
  get(@Param() p: FindingParams) {
    return this.queries.execute(new FindingQuery(p.findingId));
  }

  @Post(':findingId/transitions')
  @HttpCode(200)
  @Requires('update', 'Finding')
  @ApiOperation({ summary: 'Acknowledge, resolve or reopen a finding, with a note (open → acknowledged → resolved; acknowledged → open; resolved → open). 409 illegal-transition names the allowed ones; 403 separation-of-duties: the finding is about an action of the caller (one of its actors). Recorded.' })
  @ApiJson(200, 'moved', CHANGE)
  @ApiProblems({ 400: ['note-required', 'note-too-long'], 403: ['separation-of-duties'], 404: ['finding-not-found'], 409: ['illegal-transition'] })
  transition(@Param() p: FindingParams, @Body() body: FindingTransitionDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new TransitionFindingCommand(p.findingId, body.to, body.note, caller.context));
  }
}
