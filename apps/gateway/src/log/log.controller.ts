import { Readable } from 'node:stream';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ruleFor } from '@custos/authz';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
import { EventStore } from '@custos/event-store';
import { type Checkpoint, leafInput, LogIntegrator, prepareExport } from '@custos/log';
import { AccessRecorder } from '@custos/access';
import { KeyService } from '@custos/keys';
import { Clock, parseInstant } from '@custos/platform';
import { Database } from '@custos/event-store';
import { leafHash } from '@custos/merkle';
import { type HttpReply, Requires } from '@custos/runtime';
import { IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { AuditedRead } from '../audit/audit.interceptors.js';
import { Caller, type CallerContext } from '../auth/identity.decorator.js';
import { ApiJson, ApiProblems, OBJECT_SCHEMA } from '../openapi.js';

const COUNT = /^(0|[1-9]\d{0,14})$/;

export class TreeSizeParams {
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'treeSize must be a non-negative integer' }) treeSize!: string;
}

export class InclusionQueryDto {
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'sequence must be a non-negative integer' }) sequence!: string;
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'treeSize must be a non-negative integer' }) treeSize!: string;
}

export class ConsistencyQueryDto {
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'from must be a non-negative integer' }) from!: string;
  @ApiProperty({ pattern: COUNT.source }) @Matches(COUNT, { message: 'to must be a non-negative integer' }) to!: string;
}

export class ExportDto {
  @ApiProperty({ pattern: '^[A-Za-z0-9._-]{1,100}$' }) @IsString() @Matches(/^[A-Za-z0-9._-]{1,100}$/) patientId!: string;
  @ApiProperty({ description: 'RFC 3339 instant: the window starts here (inclusive)' }) @IsString() @Length(1, 40) from!: string;
  @ApiProperty({ description: 'RFC 3339 instant: the window ends here (exclusive)' }) @IsString() @Length(1, 40) to!: string;
  @ApiPropertyOptional({ description: 'the tree size of a checkpoint kept from an earlier export: the bundle then carries a consistency proof from it' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  since?: number;
}

const ENCODING = 'hex; RFC 9162 section 2.1: leaf hash SHA-256(0x00 || leaf), node SHA-256(0x01 || left || right)';

/** The verifiable log: signed checkpoints and RFC 9162 proofs over the global sequence. */
@ApiTags('verifiable log')
@ApiBearerAuth()
@Controller('v1/log')
export class LogController {
  constructor(
    @Inject(LogIntegrator) private readonly log: LogIntegrator,
    @Inject(EventStore) private readonly store: EventStore,
  ) {}

  @Get('checkpoint')
  @Requires('read', 'LogCheckpoint')
  @ApiOperation({ summary: 'The latest signed checkpoint: the C2SP tlog-checkpoint note body (origin, tree size, base64 root) as a compact JWS (ES256, typ tlog-checkpoint+jws, kid in /.well-known/jwks.json)' })
  @ApiJson(200, 'the checkpoint', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['no-checkpoint'] })
  async latest(): Promise<Checkpoint> {
    const cp = await this.log.checkpoints.latest();
    if (!cp) throw new NotFoundError('no checkpoint yet', undefined, 'no-checkpoint');
    return cp;
  }

  @Get('checkpoints/:treeSize')
  @Requires('read', 'LogCheckpoint')
  @ApiOperation({ summary: 'The checkpoint signed at this tree size' })
  @ApiJson(200, 'the checkpoint', OBJECT_SCHEMA)
  @ApiProblems({ 404: ['no-checkpoint'] })
  async at(@Param() p: TreeSizeParams): Promise<Checkpoint> {
    const cp = await this.log.checkpoints.at(Number(p.treeSize));
    if (!cp) throw new NotFoundError('no checkpoint at this tree size', { treeSize: Number(p.treeSize) }, 'no-checkpoint');
    return cp;
  }

  @Get('proofs/inclusion')
  @Requires('read', 'LogProof')
  @AuditedRead('audit-log', () => 1)
  @ApiOperation({ summary: "An RFC 9162 inclusion proof of the event at global sequence N in the tree of size M, with the leaf (the stored event's canonical JSON). Security officers and regulators; a patient for events of their own streams. The read is recorded." })
  @ApiJson(200, 'the proof', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['index-beyond-size'], 403: ['not-your-event'], 409: ['not-integrated'] })
  async inclusion(@Query() q: InclusionQueryDto, @Caller() caller: CallerContext) {
    const sequence = Number(q.sequence);
    const treeSize = Number(q.treeSize);
    if (sequence >= treeSize) throw new ValidationError('sequence must be below treeSize', { sequence, treeSize }, 'index-beyond-size');
    await this.integrated(treeSize);
    const [event] = await this.store.readAll(sequence, 1);
    if (!event) throw new ConflictError('that sequence is not in the log', { sequence }, 'not-integrated');
    const patientId = event.metadata.patientId ?? null;
    if (!ruleFor(caller.principal, 'read', 'LogProof', { patientId })) throw new ForbiddenError('a patient gets proofs of events of their own streams only', { patientId }, 'not-your-event');
    const leaf = leafInput(event);
    return {
      sequence,
      treeSize,
      leaf: leaf.toString('utf8'),
      leafHash: leafHash(leaf).toString('hex'),
      auditPath: (await this.log.tree.inclusion(sequence, treeSize)).map((h) => h.toString('hex')),
      rootHash: (await this.log.tree.root(treeSize)).toString('hex'),
      checkpoint: (await this.log.checkpoints.at(treeSize))?.jws ?? null,
      encoding: ENCODING,
    };
  }

  @Get('proofs/consistency')
  @Requires('read', 'LogCheckpoint')
  @ApiOperation({ summary: 'An RFC 9162 consistency proof that the tree of size `to` extends the tree of size `from` (0 < from <= to), with both roots' })
  @ApiJson(200, 'the proof', OBJECT_SCHEMA)
  @ApiProblems({ 400: ['bad-sizes'], 409: ['not-integrated'] })
  async consistency(@Query() q: ConsistencyQueryDto) {
    const from = Number(q.from);
    const to = Number(q.to);
    if (from < 1 || from > to) throw new ValidationError('a consistency proof needs 0 < from <= to', { from, to }, 'bad-sizes');
    await this.integrated(to);
    return {
      from,
      to,
      fromRoot: (await this.log.tree.root(from)).toString('hex'),
      toRoot: (await this.log.tree.root(to)).toString('hex'),
      proof: (await this.log.tree.consistency(from, to)).map((h) => h.toString('hex')),
      encoding: ENCODING,
    };
  }

  private async integrated(size: number): Promise<void> {
    const head = await this.log.tree.head();
    if (size > head.size) throw new ConflictError(`the tree is integrated up to ${head.size}`, { integratedSize: head.size }, 'not-integrated');
  }
}

/** Patient-scoped exports for regulators: one bundle the offline verifier checks (docs/verify.md). */
@ApiTags('verifiable log')
@ApiBearerAuth()
@Controller('v1/exports')
export class ExportController {
  constructor(
    @Inject(LogIntegrator) private readonly log: LogIntegrator,
    @Inject(Database) private readonly db: Database,
    @Inject(KeyService) private readonly keys: KeyService,
    @Inject(AccessRecorder) private readonly recorder: AccessRecorder,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

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
    const from = parseInstant('from', body.from);
    const to = parseInstant('to', body.to);
    if (to.getTime() <= from.getTime()) throw new ValidationError('to must be after from', undefined, 'bad-window');
    const prepared = await prepareExport(this.db, this.log.tree, this.log.checkpoints, await this.keys.jwks(), { patientId: body.patientId, from, to, ...(body.since !== undefined ? { since: body.since } : {}) }, this.clock.now(), (size) => this.log.witnesses.cosignatures(size));
    // Recorded before the first byte goes out.
    await this.recorder.auditRead(caller.context, {
      route: '/v1/exports',
      resourceType: 'audit-log',
      patientId: body.patientId,
      filters: { from: from.toISOString(), to: to.toISOString(), treeSize: prepared.treeSize },
      itemsReturned: prepared.total,
      rule: 'regulator-export',
    });
    // Streamed in HTTP chunks; the total up front lets a client show progress as events arrive.
    void reply.header('content-type', 'application/json').header('x-custos-export-events', String(prepared.total)).send(Readable.from(prepared.chunks()));
  }
}
