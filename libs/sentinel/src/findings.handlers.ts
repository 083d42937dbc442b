import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler, type IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { type CommandContext, Database, EventStore } from '@custos/event-store';
import { type ConcurrencyError, NotFoundError } from '@custos/errors';
import { fold } from '@custos/decider';
import { Clock } from '@custos/platform';
import type { EvidenceRef } from './domain/incident.events.js';
import { findingDecider, type FindingState, type FindingView } from './domain/finding.decide.js';
import { findingStreamId } from './domain/findings.js';
import { findingCodec, findingShell } from './sentinel-runner.js';
import { KeysetQuery, nextCursor } from './keyset-page.js';

/** A finding as listed: the read model's row. */
export interface FindingRow {
  readonly findingId: string;
  readonly rule: string;
  readonly ruleVersion: number;
  readonly state: string;
  readonly datasetId: string | null;
  readonly modelId: string | null;
  readonly summary: string;
  readonly facts: Readonly<Record<string, unknown>>;
  readonly evidenceCount: number;
  readonly raisedAt: string;
  readonly updatedAt: string;
}

export interface FindingListRequest {
  readonly state?: string;
  readonly rule?: string;
  readonly datasetId?: string;
  readonly modelId?: string;
  readonly cursor?: string;
  readonly limit?: number;
}

export interface FindingPage {
  readonly items: FindingRow[];
  /** How many findings match the filters (all pages). */
  readonly total: number;
  readonly nextCursor: string | null;
}

const iso = (v: Date | string) => new Date(v).toISOString();

/** Findings, newest first, cursor-paged on (raised_at, finding_id), with the total matching the filters. */
export class ListFindingsQuery extends Query<FindingPage> {
  constructor(readonly request: FindingListRequest) {
    super();
  }
}

@QueryHandler(ListFindingsQuery)
export class ListFindingsHandler implements IQueryHandler<ListFindingsQuery> {
  constructor(@Inject(Database) private readonly db: Database) {}

  async execute({ request: f }: ListFindingsQuery): Promise<FindingPage> {
    const limit = f.limit ?? 50;
    const q = new KeysetQuery();
    if (f.state) q.add('state = $?', f.state);
    if (f.rule) q.add('rule = $?', f.rule);
    if (f.datasetId) q.add('dataset_id = $?', f.datasetId);
    if (f.modelId) q.add('model_id = $?', f.modelId);
    const [count] = await this.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM custos_rm_findings ${q.filter}`, [...q.args]);
    q.after(f.cursor, 'raised_at', 'finding_id', { field: 'cursor' });
    const page = q.limit(limit);
    const rows = await this.db.query<{
      finding_id: string;
      rule: string;
      rule_version: number;
      state: string;
      dataset_id: string | null;
      model_id: string | null;
      summary: string;
      facts: Record<string, unknown> | string;
      evidence: unknown[] | string;
      raised_at: Date | string;
      updated_at: Date | string;
    }>(`SELECT * FROM custos_rm_findings ${q.filter} ORDER BY raised_at DESC, finding_id DESC LIMIT ${page}`, q.args);
    const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
    const items = rows.slice(0, limit).map((r) => ({
      findingId: r.finding_id,
      rule: r.rule,
      ruleVersion: Number(r.rule_version),
      state: r.state,
      datasetId: r.dataset_id,
      modelId: r.model_id,
      summary: r.summary,
      facts: json(r.facts),
      evidenceCount: json(r.evidence).length,
      raisedAt: iso(r.raised_at),
      updatedAt: iso(r.updated_at),
    }));
    return { items, total: Number(count?.n ?? 0), nextCursor: nextCursor(rows, limit, items, (last) => [last.raisedAt, last.findingId]) };
  }
}

export type FindingAnswer = FindingView & { readonly version: number; readonly evidence: readonly EvidenceRef[] };

async function readFinding(store: EventStore, findingId: string): Promise<{ view: FindingView; version: number } | null> {
  const events = await store.readStream(findingStreamId(findingId));
  const view = fold(findingDecider, events.map((e) => findingCodec.decode(e)));
  const last = events[events.length - 1];
  return view && last ? { view, version: last.version } : null;
}

/** One finding as its events make it: the evidence (event ids, sequences, hashes) and every step with its note. */
export class FindingQuery extends Query<FindingAnswer> {
  constructor(readonly findingId: string) {
    super();
  }
}

@QueryHandler(FindingQuery)
export class FindingHandler implements IQueryHandler<FindingQuery> {
  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  async execute({ findingId }: FindingQuery): Promise<FindingAnswer> {
    const found = await readFinding(this.store, findingId);
    if (!found) throw new NotFoundError('no such finding', { findingId }, 'finding-not-found');
    return { ...found.view, version: found.version };
  }
}

export interface FindingChange {
  readonly findingId: string;
  readonly state: FindingState;
  readonly version: number;
}

/** A steward moves a finding on (acknowledge, resolve, reopen), with a note. */
export class TransitionFindingCommand extends Command<FindingChange> {
  constructor(
    readonly findingId: string,
    readonly to: FindingState,
    readonly note: string,
    readonly context: CommandContext,
  ) {
    super();
  }
}

@CommandHandler(TransitionFindingCommand)
export class TransitionFindingHandler implements ICommandHandler<TransitionFindingCommand, FindingChange> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {
    this.shell = findingShell(store, clock);
  }

  async execute({ findingId, to, note, context }: TransitionFindingCommand): Promise<FindingChange> {
    const now = this.clock.now();
    const stream = findingStreamId(findingId);
    // Two stewards at once: the later one is decided again on the state the first left (200, or 409 illegal-transition), never a stale step.
    const retry = { when: (e: ConcurrencyError) => e.streamId === stream, attempts: 5 };
    const handled = await this.shell.handle(stream, { type: 'TransitionFinding', to, note, by: context.actor.id, at: now.toISOString() }, context, { now, retry });
    if (!handled.state) throw new NotFoundError('no such finding', { findingId }, 'finding-not-found');
    return { findingId, state: handled.state.state, version: handled.version };
  }
}

export const FINDING_HANDLERS = [ListFindingsHandler, FindingHandler, TransitionFindingHandler];
