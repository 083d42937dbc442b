import { Inject } from '@nestjs/common';
import { type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { type Principal, ruleFor } from '@custos/authz';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@custos/errors';
import { type CommandContext, Database, EventStore } from '@custos/event-store';
import { KeyService } from '@custos/keys';
import { leafHash } from '@custos/merkle';
import { Clock, parseInstant } from '@custos/platform';
import { type Checkpoint, LogIntegrator } from './checkpoints.js';
import { prepareExport, type PreparedExport } from './export.js';
import { leafInput } from './tree.js';

const ENCODING = 'hex; RFC 9162 section 2.1: leaf hash SHA-256(0x00 || leaf), node SHA-256(0x01 || left || right)';

/** 409 not-integrated while the tree is smaller than `size`. */
async function integrated(log: LogIntegrator, size: number): Promise<void> {
  const head = await log.tree.head();
  if (size > head.size) throw new ConflictError(`the tree is integrated up to ${head.size}`, { integratedSize: head.size }, 'not-integrated');
}

export class LatestCheckpointQuery extends Query<Checkpoint> {}

@QueryHandler(LatestCheckpointQuery)
export class LatestCheckpointHandler implements IQueryHandler<LatestCheckpointQuery, Checkpoint> {
  constructor(@Inject(LogIntegrator) private readonly log: LogIntegrator) {}

  async execute(): Promise<Checkpoint> {
    const cp = await this.log.checkpoints.latest();
    if (!cp) throw new NotFoundError('no checkpoint yet', undefined, 'no-checkpoint');
    return cp;
  }
}

export class CheckpointAtQuery extends Query<Checkpoint> {
  constructor(readonly treeSize: number) {
    super();
  }
}

@QueryHandler(CheckpointAtQuery)
export class CheckpointAtHandler implements IQueryHandler<CheckpointAtQuery, Checkpoint> {
  constructor(@Inject(LogIntegrator) private readonly log: LogIntegrator) {}

  async execute({ treeSize }: CheckpointAtQuery): Promise<Checkpoint> {
    const cp = await this.log.checkpoints.at(treeSize);
    if (!cp) throw new NotFoundError('no checkpoint at this tree size', { treeSize }, 'no-checkpoint');
    return cp;
  }
}

export interface InclusionProof {
  readonly sequence: number;
  readonly treeSize: number;
  /** The stored event's canonical JSON. */
  readonly leaf: string;
  readonly leafHash: string;
  readonly auditPath: string[];
  readonly rootHash: string;
  readonly checkpoint: string | null;
  readonly encoding: string;
}

export class InclusionProofQuery extends Query<InclusionProof> {
  constructor(
    readonly sequence: number,
    readonly treeSize: number,
    readonly principal: Principal,
  ) {
    super();
  }
}

/**
 * An inclusion proof of the event at a global sequence. Who may have it depends on the event
 * (a patient: events of their own streams), so the check is here, once the event is read.
 */
@QueryHandler(InclusionProofQuery)
export class InclusionProofHandler implements IQueryHandler<InclusionProofQuery, InclusionProof> {
  constructor(
    @Inject(LogIntegrator) private readonly log: LogIntegrator,
    @Inject(EventStore) private readonly store: EventStore,
  ) {}

  async execute({ sequence, treeSize, principal }: InclusionProofQuery): Promise<InclusionProof> {
    if (sequence >= treeSize) throw new ValidationError('sequence must be below treeSize', { sequence, treeSize }, 'index-beyond-size');
    await integrated(this.log, treeSize);
    const [event] = await this.store.readAll(sequence, 1);
    if (!event) throw new ConflictError('that sequence is not in the log', { sequence }, 'not-integrated');
    const patientId = event.metadata.patientId ?? null;
    if (!ruleFor(principal, 'read', 'LogProof', { patientId })) throw new ForbiddenError('a patient gets proofs of events of their own streams only', { patientId }, 'not-your-event');
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
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly fromRoot: string;
  readonly toRoot: string;
  readonly proof: string[];
  readonly encoding: string;
}

export class ConsistencyProofQuery extends Query<ConsistencyProof> {
  constructor(
    readonly from: number,
    readonly to: number,
  ) {
    super();
  }
}

@QueryHandler(ConsistencyProofQuery)
export class ConsistencyProofHandler implements IQueryHandler<ConsistencyProofQuery, ConsistencyProof> {
  constructor(@Inject(LogIntegrator) private readonly log: LogIntegrator) {}

  async execute({ from, to }: ConsistencyProofQuery): Promise<ConsistencyProof> {
    if (from < 1 || from > to) throw new ValidationError('a consistency proof needs 0 < from <= to', { from, to }, 'bad-sizes');
    await integrated(this.log, to);
    return {
      from,
      to,
      fromRoot: (await this.log.tree.root(from)).toString('hex'),
      toRoot: (await this.log.tree.root(to)).toString('hex'),
      proof: (await this.log.tree.consistency(from, to)).map((h) => h.toString('hex')),
      encoding: ENCODING,
    };
  }
}

/** A read of the log as the audit trail records it. */
export interface LogRead {
  readonly route: string;
  readonly resourceType: 'audit-log';
  readonly patientId: string;
  readonly filters: Readonly<Record<string, string | number>>;
  readonly itemsReturned: number;
  readonly rule: string;
}

/**
 * Where reads of the log are recorded: the access context's audit trail, wired by the app
 * (the log sits below the contexts and depends on none of them).
 */
export abstract class LogReadRecorder {
  abstract auditRead(context: CommandContext, read: LogRead): Promise<void>;
}

export class PatientExportQuery extends Query<PreparedExport> {
  constructor(
    readonly request: { readonly patientId: string; readonly from: string; readonly to: string; readonly since?: number },
    readonly context: CommandContext,
  ) {
    super();
  }
}

/**
 * A regulator's export of one patient's events in a window, prepared (its size known) and
 * recorded as a read of the log before the first byte goes out.
 */
@QueryHandler(PatientExportQuery)
export class PatientExportHandler implements IQueryHandler<PatientExportQuery, PreparedExport> {
  constructor(
    @Inject(LogIntegrator) private readonly log: LogIntegrator,
    @Inject(Database) private readonly db: Database,
    @Inject(KeyService) private readonly keys: KeyService,
    @Inject(LogReadRecorder) private readonly recorder: LogReadRecorder,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ request, context }: PatientExportQuery): Promise<PreparedExport> {
    const from = parseInstant('from', request.from);
    const to = parseInstant('to', request.to);
    if (to.getTime() <= from.getTime()) throw new ValidationError('to must be after from', undefined, 'bad-window');
    const prepared = await prepareExport(this.db, this.log.tree, this.log.checkpoints, await this.keys.jwks(), { patientId: request.patientId, from, to, ...(request.since !== undefined ? { since: request.since } : {}) }, this.clock.now(), (size) => this.log.witnesses.cosignatures(size));
    await this.recorder.auditRead(context, {
      route: '/v1/exports',
      resourceType: 'audit-log',
      patientId: request.patientId,
      filters: { from: from.toISOString(), to: to.toISOString(), treeSize: prepared.treeSize },
      itemsReturned: prepared.total,
      rule: 'regulator-export',
    });
    return prepared;
  }
}

export const LOG_QUERY_HANDLERS = [LatestCheckpointHandler, CheckpointAtHandler, InclusionProofHandler, ConsistencyProofHandler, PatientExportHandler];
