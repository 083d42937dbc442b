import { Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ConfigureDatasetCommand,
  CreateAnnotationCommand,
  DatasetQualityQuery,
  DatasetQuery,
  DeleteAnnotationCommand,
  EditAnnotationCommand,
  ListImageAnnotationsCommand,
  ReadAnnotationCommand,
  ReviewAnnotationCommand,
  SnapshotProofQuery,
  SnapshotQuery,
  TakeSnapshotCommand,
} from '@custos/annotation';
import { type HttpReply, Requires } from '@custos/runtime';
import { DatasetParams, ImageParams } from '../access/access.dto.js';
import { AuditedRead } from '../audit/audit.interceptors.js';
import { ifMatchVersion } from '../if-match.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA, SCHEMA } from '../openapi.js';
import { AnnotationDto, AnnotationEditDto, AnnotationParams, AnnotationReviewDto, DatasetDto, ProofQueryDto, SnapshotParams } from './annotation.dto.js';

/** What the annotation decider refuses in an annotation's fields. */
const FIELD_PROBLEMS = ['unknown-label', 'bad-geometry', 'bad-confidence', 'bad-note'];

const WRITTEN = { type: 'object', properties: { annotationId: SCHEMA.str, version: SCHEMA.int, status: SCHEMA.str } };

@ApiTags('annotations')
@ApiBearerAuth()
@Controller('v1')
export class AnnotationController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(QueryBus) private readonly queries: QueryBus,
  ) {}

  @Put('datasets/:datasetId')
  @Requires('update', 'Dataset')
  @ApiOperation({ summary: "A dataset's settings: purpose, label vocabulary, accepted credentials, reviewers needed. An event, versioned; If-Match makes it conditional (412 when stale)" })
  @ApiJson(200, 'recorded', { type: 'object', properties: { datasetId: SCHEMA.str, version: SCHEMA.int } })
  @ApiProblems({ 400: ['bad-labels', 'bad-credentials', 'bad-purpose', 'bad-minReviewers', 'bad-researchers'], 409: ['concurrency-conflict'], 412: ['stale-version'] })
  async configure(@Param() p: DatasetParams, @Body() body: DatasetDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const r: { datasetId: string; version: number } = await this.commands.execute(
      new ConfigureDatasetCommand({ datasetId: p.datasetId, purpose: body.purpose, labels: [...body.labels], credentials: [...body.credentials], minReviewers: body.minReviewers, ...(body.researchers !== undefined ? { researchers: [...body.researchers] } : {}) }, ifMatchVersion(ifMatch), caller.context),
    );
    res.header('etag', `"${r.version}"`);
    return r;
  }

  @Get('datasets/:datasetId')
  @Requires('read', 'Dataset')
  @ApiOperation({ summary: "A dataset's settings as they stand, with their version" })
  @ApiJson(200, 'the settings', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['not-found'] })
  async dataset(@Param() p: DatasetParams, @Res({ passthrough: true }) res: HttpReply) {
    const found = await this.queries.execute(new DatasetQuery(p.datasetId));
    res.header('etag', `"${found.version}"`);
    return found;
  }

  @Post('datasets/:datasetId/snapshots')
  @Requires('update', 'Dataset')
  @ApiOperation({
    summary:
      "Freeze the dataset's approved annotations into a manifest (annotation ids and versions, image ids, label counts) with its RFC 9162 Merkle tree hash over the entries' canonical JSON; images whose patients do not consent to the dataset's purpose are left out and counted. An event",
  })
  @ApiJson(201, 'the snapshot', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['not-found'] })
  snapshot(@Param() p: DatasetParams, @Caller() caller: CallerContext) {
    return this.commands.execute(new TakeSnapshotCommand(p.datasetId, caller.context));
  }

  @Get('datasets/:datasetId/snapshots/:snapshotId')
  @Requires('read', 'Dataset')
  @ApiOperation({ summary: 'A snapshot as recorded: its entries and digest (rootHash: hex SHA-256, RFC 9162)' })
  @ApiJson(200, 'the snapshot', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['not-found'] })
  readSnapshot(@Param() p: SnapshotParams) {
    return this.queries.execute(new SnapshotQuery(p.datasetId, p.snapshotId));
  }

  @Get('datasets/:datasetId/snapshots/:snapshotId/proof')
  @Requires('read', 'Dataset')
  @ApiOperation({ summary: "An RFC 9162 inclusion proof of one annotation in a snapshot: the leaf (the entry's canonical JSON), its index, the tree size, the audit path and root, hashes in hex" })
  @ApiJson(200, 'the proof', { type: 'object', properties: { leafIndex: SCHEMA.int, treeSize: SCHEMA.int, leaf: SCHEMA.str, leafHash: SCHEMA.str, auditPath: { type: 'array', items: SCHEMA.str }, rootHash: SCHEMA.str, encoding: SCHEMA.str } })
  @ApiProblems({ 404: ['not-found', 'not-in-snapshot'] })
  proof(@Param() p: SnapshotParams, @Query() q: ProofQueryDto) {
    return this.queries.execute(new SnapshotProofQuery(p.datasetId, p.snapshotId, q.annotationId));
  }

  @Get('datasets/:datasetId/quality')
  @Requires('read', 'DatasetQuality')
  @AuditedRead('dataset-quality', (r) => (r as { annotations?: number }).annotations ?? 0)
  @ApiOperation({
    summary:
      "The dataset's quality audit: per annotator annotations, rejection rate and median time to review; the approved share; agreement where annotators labelled the same image (Cohen's kappa per pair, Fleiss' kappa over images with three or more); per demographic group (sex, age band, ethnicity) images annotated, approved share and agreement, for data stewards only (others get `demographics: null`: the balance report gives them under differential privacy). The read is recorded.",
  })
  @ApiJson(200, 'the audit', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['not-found'] })
  quality(@Param() p: DatasetParams, @Caller() caller: CallerContext) {
    // Stewards read demographics anyway; a regulator's exact counts per group would be a way around the balance report's noise.
    return this.queries.execute(new DatasetQualityQuery(p.datasetId, caller.principal.roles.includes('data-steward')));
  }

  @Post('images/:imageId/annotations')
  @Requires('create', 'Annotation')
  @ApiOperation({ summary: "Annotate an image: a credential accepted for the image's dataset, a label from its vocabulary, and the patient's consent for the dataset's purpose (403 consent-not-granted, recorded)" })
  @ApiJson(201, 'created', WRITTEN)
  @ApiProblems({ 400: FIELD_PROBLEMS, 403: ['credential-not-accepted', 'consent-not-granted'], 404: ['unknown-image'], 409: ['dataset-not-configured', 'annotation-exists'] })
  create(@Param() p: ImageParams, @Body() body: AnnotationDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new CreateAnnotationCommand(p.imageId, { label: body.label, geometry: body.geometry, confidence: body.confidence, ...(body.note !== undefined ? { note: body.note } : {}) }, caller.principal, caller.context));
  }

  @Put('annotations/:annotationId')
  @Requires('update', 'Annotation')
  @ApiOperation({ summary: 'Edit an annotation: If-Match required (428 without, 412 with the current version when stale); an edit sends it back to review' })
  @ApiJson(200, 'edited', WRITTEN)
  @ApiProblems({ 400: [...FIELD_PROBLEMS, 'nothing-to-change'], 403: ['credential-not-accepted', 'consent-not-granted'], 404: ['not-found'], 409: ['annotation-deleted', 'concurrency-conflict'], 412: ['stale-version'], 428: ['if-match-required'] })
  async edit(@Param() p: AnnotationParams, @Body() body: AnnotationEditDto, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CallerContext, @Res({ passthrough: true }) res: HttpReply) {
    const changes = { ...(body.label !== undefined ? { label: body.label } : {}), ...(body.geometry !== undefined ? { geometry: body.geometry } : {}), ...(body.confidence !== undefined ? { confidence: body.confidence } : {}), ...(body.note !== undefined ? { note: body.note } : {}) };
    const r: { version: number } = await this.commands.execute(new EditAnnotationCommand(p.annotationId, changes, ifMatchVersion(ifMatch), caller.principal, caller.context));
    res.header('etag', `"${r.version}"`);
    return r;
  }

  @Delete('annotations/:annotationId')
  @Requires('update', 'Annotation')
  @ApiOperation({ summary: 'Delete an annotation (a tombstone: nothing is removed); If-Match as for an edit' })
  @ApiJson(200, 'deleted', WRITTEN)
  @ApiProblems({ 403: ['credential-not-accepted'], 404: ['not-found'], 409: ['annotation-deleted', 'concurrency-conflict'], 412: ['stale-version'], 428: ['if-match-required'] })
  remove(@Param() p: AnnotationParams, @Headers('if-match') ifMatch: string | undefined, @Caller() caller: CallerContext) {
    return this.commands.execute(new DeleteAnnotationCommand(p.annotationId, ifMatchVersion(ifMatch), caller.principal, caller.context));
  }

  @Post('annotations/:annotationId/reviews')
  @HttpCode(200)
  @Requires('create', 'AnnotationReview')
  @ApiOperation({ summary: 'Approve or reject (with a reason) an annotation: a reviewer with an accepted credential who did not create or edit it' })
  @ApiJson(200, 'reviewed', WRITTEN)
  @ApiProblems({ 400: ['reason-required', 'bad-reason'], 403: ['own-annotation', 'credential-not-accepted', 'not-a-reviewer'], 404: ['not-found'], 409: ['already-reviewed', 'annotation-deleted', 'concurrency-conflict'] })
  review(@Param() p: AnnotationParams, @Body() body: AnnotationReviewDto, @Caller() caller: CallerContext) {
    return this.commands.execute(new ReviewAnnotationCommand(p.annotationId, body.verdict, body.reason, caller.principal, caller.context));
  }

  @Get('annotations/:annotationId')
  @Requires('create', 'AccessRequest')
  @ApiOperation({ summary: 'Read an annotation: an access decision for the dataset’s purpose, recorded in the patient’s trail (resourceType annotation)' })
  @ApiJson(200, 'the annotation, with the recorded decision', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['access-denied'], 404: ['unknown-resource'] })
  read(@Param() p: AnnotationParams, @Caller() caller: CallerContext) {
    return this.commands.execute(new ReadAnnotationCommand(p.annotationId, 'current', caller.principal, caller.context));
  }

  @Get('annotations/:annotationId/history')
  @Requires('create', 'AccessRequest')
  @ApiOperation({ summary: 'Every version oldest first: field-level changes, who, under which credential, when, review verdicts with reasons. Decided and recorded like a read' })
  @ApiJson(200, 'the history', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['access-denied'], 404: ['unknown-resource'] })
  history(@Param() p: AnnotationParams, @Caller() caller: CallerContext) {
    return this.commands.execute(new ReadAnnotationCommand(p.annotationId, 'history', caller.principal, caller.context));
  }

  @Get('images/:imageId/annotations')
  @Requires('create', 'AccessRequest')
  @ApiOperation({ summary: "An image's annotations (not deleted): one access decision (resource annotation, id image:<imageId>), recorded" })
  @ApiJson(200, 'the annotations', OBJECT_SCHEMA)
  @ApiProblems({ 403: ['access-denied'], 404: ['unknown-resource'] })
  list(@Param() p: ImageParams, @Caller() caller: CallerContext) {
    return this.commands.execute(new ListImageAnnotationsCommand(p.imageId, caller.principal, caller.context));
  }
}
