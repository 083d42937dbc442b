import { Body, Controller, Get, Inject, Param, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { EvaluateModelCommand, ListModelsQuery, ModelCardQuery, ModelQuery, RegisterModelCommand } from '@custos/fairness';
import { Requires } from '@custos/runtime';
import { AuditedRead } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA, SCHEMA } from '../openapi.js';
import { EvaluationDto, ModelListQueryDto, ModelParams, RegisterModelDto } from './model.dto.js';

/** What the model decider refuses in an evaluation's results per group. */
const GROUP_PROBLEMS = ['bad-groups', 'unknown-dimension', 'unknown-group', 'duplicate-group', 'bad-n', 'bad-metric'];

@ApiTags('models')
@ApiBearerAuth()
@Controller('v1/models')
export class ModelController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  @Post()
  @Requires('create', 'Model')
  @ApiOperation({
    summary:
      'Register a model version with the snapshots it was trained and validated on: each must exist and be of an AI_TRAINING dataset, a root given must be the one recorded, validation must share no image with training, and the roots, sizes and purposes are copied from the log (what it learned from, provably). One registration per name and version (one namespace for all developers). An event',
  })
  @ApiJson(201, 'the model as registered', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-name', 'bad-version', 'bad-description', 'bad-snapshots'], 404: ['unknown-snapshot'], 409: ['model-exists', 'snapshot-root-mismatch', 'validation-snapshot-in-training', 'snapshot-purpose', 'validation-overlaps-training'] })
  register(@Body() body: RegisterModelDto, @Caller() caller: CallerContext) {
    const refs = (list: RegisterModelDto['trainedOn']) => list.map((s) => ({ datasetId: s.datasetId, snapshotId: s.snapshotId, ...(s.rootHash !== undefined ? { rootHash: s.rootHash } : {}) }));
    return this.commands.execute(
      new RegisterModelCommand({ name: body.name, version: body.version, ...(body.description !== undefined ? { description: body.description } : {}), trainedOn: refs(body.trainedOn), validatedOn: refs(body.validatedOn) }, caller.context),
    );
  }

  @Get()
  @Requires('read', 'Model')
  @ApiOperation({ summary: 'Registered models in registration order, a page at a time, with how many evaluations each has and how many were flagged: a model developer sees only their own' })
  @ApiJson(200, 'a page of models', { type: 'object', properties: { items: { type: 'array', items: OBJECT_SCHEMA }, next: SCHEMA.nullable(SCHEMA.int) } })
  @ApiProblems()
  list(@Query() q: ModelListQueryDto, @Caller() caller: CallerContext) {
    return this.queries.execute(new ListModelsQuery(q.limit ?? 50, q.after ?? -1, caller.principal));
  }

  @Get(':modelId')
  @Requires('read', 'Model')
  @ApiOperation({ summary: "A model as registered, with its evaluations (another developer's model is 404 to a model developer)" })
  @ApiJson(200, 'the model', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['not-found'] })
  read(@Param() p: ModelParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new ModelQuery(p.modelId, caller.principal));
  }

  @Post(':modelId/evaluations')
  @Requires('update', 'Model')
  @ApiOperation({
    summary:
      'By the developer who registered the model only. Results on a test snapshot (of an AI_TRAINING dataset, sharing no image with the training snapshots) per demographic group: n, sensitivity, specificity and AUC with their confidence intervals. Custos computes the largest gap per dimension and metric between groups with at least BIAS_MIN_GROUP_N cases, flags sensitivity gaps beyond BIAS_MAX_GAP, and lists the groups too small to judge. An event',
  })
  @ApiJson(201, 'the evaluation, with its gaps, flags and groups too small', OBJECT_SCHEMA)
  @ApiProblems({ 400: GROUP_PROBLEMS, 403: ['not-model-developer'], 404: ['not-found', 'unknown-snapshot'], 409: ['test-snapshot-in-training', 'snapshot-purpose', 'test-snapshot-overlaps-training'] })
  evaluate(@Param() p: ModelParams, @Body() body: EvaluationDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new EvaluateModelCommand(p.modelId, { testSnapshot: { datasetId: body.testSnapshot.datasetId, snapshotId: body.testSnapshot.snapshotId }, groups: body.groups }, caller.context));
  }

  @Get(':modelId/card')
  @Requires('read', 'Model')
  @AuditedRead('dataset-consent', () => 1)
  @ApiOperation({
    summary:
      "The model card, assembled from the log: the model; each snapshot (dataset, root, size, purpose) with its dataset's balance releases; evaluations per group with gaps, flags and groups too small; consent since each snapshot was taken (patients who withdrew AI_TRAINING: a count, their ids only to data stewards). The read is recorded.",
  })
  @ApiJson(200, 'the card', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['not-found'] })
  card(@Param() p: ModelParams, @Caller() caller: CallerContext) {
    return this.queries.execute(new ModelCardQuery(p.modelId, caller.principal));
  }
}
