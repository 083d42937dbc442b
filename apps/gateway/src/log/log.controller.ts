import { Readable } from 'node:stream';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type Checkpoint, CheckpointAtQuery, ConsistencyProofQuery, InclusionProofQuery, LatestCheckpointQuery, PatientExportQuery } from '@custos/log';
import { type HttpReply, Requires } from '@custos/runtime';
import { AuditedRead } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA } from '../openapi.js';
import { ConsistencyQueryDto, ExportDto, InclusionQueryDto, TreeSizeParams } from './log.dto.js';

/** The verifiable log: signed checkpoints and RFC 9162 proofs over the global sequence. */
@ApiTags('verifiable log')
@ApiBearerAuth()
@Controller('v1/log')
export class LogController {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  @Get('checkpoint')
  @Requires('read', 'LogCheckpoint')
  @ApiOperation({ summary: 'The latest signed checkpoint: the C2SP tlog-checkpoint note body (origin, tree size, base64 root) as a compact JWS (ES256, typ tlog-checkpoint+jws, kid in /.well-known/jwks.json)' })
  @ApiJson(200, 'the checkpoint', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['no-checkpoint'] })
  latest(): Promise<Checkpoint> {
    return this.queries.execute(new LatestCheckpointQuery());
  }

  @Get('checkpoints/:treeSize')
  @Requires('read', 'LogCheckpoint')
  @ApiOperation({ summary: 'The checkpoint signed at this tree size' })
  @ApiJson(200, 'the checkpoint', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['no-checkpoint'] })
  at(@Param() p: TreeSizeParams): Promise<Checkpoint> {
    return this.queries.execute(new CheckpointAtQuery(Number(p.treeSize)));
  }

  @Get('proofs/inclusion')
  @Requires('read', 'LogProof')
  @AuditedRead('audit-log', () => 1)
  @ApiOperation({ summary: "An RFC 9162 inclusion proof of the event at global sequence N in the tree of size M, with the leaf (the stored event's canonical JSON). Security officers and regulators; a patient for events of their own streams. The read is recorded." })
  @ApiJson(200, 'the proof', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['index-beyond-size'], 403: ['not-your-event'], 409: ['not-integrated'] })
  inclusion(@Query() q: InclusionQueryDto, @Caller() caller: CallerContext) {
    return this.queries.execute(new InclusionProofQuery(Number(q.sequence), Number(q.treeSize), caller.principal));
  }

  @Get('proofs/consistency')
  @Requires('read', 'LogCheckpoint')
  @ApiOperation({ summary: 'An RFC 9162 consistency proof that the tree of size `to` extends the tree of size `from` (0 < from <= to), with both roots' })
  @ApiJson(200, 'the proof', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-sizes'], 409: ['not-integrated'] })
  consistency(@Query() q: ConsistencyQueryDto) {
    return this.queries.execute(new ConsistencyProofQuery(Number(q.from), Number(q.to)));
  }
}

/** Patient-scoped exports for regulators: one bundle the offline verifier checks (docs/verify.md). */
@ApiTags('verifiable log')
@ApiBearerAuth()
@Controller('v1/exports')
export class ExportController {
  constructor(@Inject(QueryBus) private readonly queries: QueryBus) {}

  @Post()
  @HttpCode(200)
  @Requires('create', 'Export')
  @ApiOperation({
    summary:
      "A regulator's export of one patient's events in a window: the events as stored (personal parts sealed), one checkpoint, an inclusion proof per event, every link of their streams up to the checkpoint (each proven by an inclusion proof), the streams' heads signed with the checkpoints key, optionally a consistency proof from a checkpoint kept earlier, and the JWKS. Recorded.",
  })
  @ApiJson(200, 'the bundle', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-window'], 404: ['bad-since'], 409: ['no-checkpoint', 'export-too-large'] })
  async export(@Body() body: ExportDto, @Caller() caller: CallerContext, @Res() reply: HttpReply): Promise<void> {
    // Recorded (a read of the log) before the first byte goes out.
    const prepared = await this.queries.execute(new PatientExportQuery({ patientId: body.patientId, from: body.from, to: body.to, ...(body.since !== undefined ? { since: body.since } : {}) }, caller.context));
    // Streamed in HTTP chunks; the total up front lets a client show progress as events arrive.
    void reply.header('content-type', 'application/json').header('x-custos-export-events', String(prepared.total)).send(Readable.from(prepared.chunks()));
  }
}
