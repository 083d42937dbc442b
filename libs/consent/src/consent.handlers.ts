import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import type { CommandContext } from '@custos/access';
import type { Purpose } from '@custos/authz';
import { ConcurrencyError, NotFoundError, ValidationError } from '@custos/errors';
import { EventStore, StoredEvent } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { ChangeConsent, decideChangeConsent, decideWithdrawConsent, foldConsent, WithdrawConsent } from './consent.decide.js';
import { ConsentEvent, consentStreamId } from './consent.events.js';
import { ConsentReceipts } from './consent.receipts.js';

export interface ConsentChangeResult {
  readonly version: number;
  readonly eventId: string;
  readonly sequence: number;
  readonly receipt: string;
}

/** Concurrency: `expectedVersion` from If-Match, else the version just read; a stale one is a 409 naming the current version. */
async function appendConsent(store: EventStore, patientId: string, expected: number, event: ConsentEvent, ctx: CommandContext, now: Date): Promise<StoredEvent> {
  const result = await store.append(
    consentStreamId(patientId),
    [{ ...event, schemaVersion: 1, metadata: { actor: { id: ctx.principal.sub, roles: [...ctx.principal.roles] }, correlationId: ctx.correlationId, patientId }, occurredAt: now }],
    { expectedVersion: expected },
  );
  return result.events[0] as StoredEvent;
}

export class ChangeConsentCommand {
  constructor(
    readonly change: Omit<ChangeConsent, 'now'>,
    readonly expectedVersion: number | undefined,
    readonly ctx: CommandContext,
  ) {}
}

@CommandHandler(ChangeConsentCommand)
export class ChangeConsentHandler implements ICommandHandler<ChangeConsentCommand, ConsentChangeResult> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ConsentReceipts) private readonly receipts: ConsentReceipts,
  ) {}

  async execute({ change, expectedVersion, ctx }: ChangeConsentCommand): Promise<ConsentChangeResult> {
    const now = this.clock.now();
    const events = (await this.store.readStream(consentStreamId(change.patientId))) as unknown as ConsentEvent[];
    const state = foldConsent(events);
    if (expectedVersion !== undefined && expectedVersion !== state.version) throw new ConcurrencyError(consentStreamId(change.patientId), expectedVersion, state.version);
    const outcome = decideChangeConsent({ ...change, now }, state);
    if (!outcome.ok) throw new ValidationError(outcome.message, undefined, outcome.code);
    const stored = await appendConsent(this.store, change.patientId, state.version, outcome.event, ctx, now);
    return { version: stored.version, eventId: stored.eventId, sequence: stored.globalSeq, receipt: await this.receipts.receiptFor(stored) };
  }
}

export class WithdrawConsentCommand {
  constructor(
    readonly withdraw: WithdrawConsent,
    readonly expectedVersion: number | undefined,
    readonly ctx: CommandContext,
  ) {}
}

@CommandHandler(WithdrawConsentCommand)
export class WithdrawConsentHandler implements ICommandHandler<WithdrawConsentCommand, ConsentChangeResult> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ConsentReceipts) private readonly receipts: ConsentReceipts,
  ) {}

  async execute({ withdraw, expectedVersion, ctx }: WithdrawConsentCommand): Promise<ConsentChangeResult> {
    const now = this.clock.now();
    const events = (await this.store.readStream(consentStreamId(withdraw.patientId))) as unknown as ConsentEvent[];
    const state = foldConsent(events);
    if (expectedVersion !== undefined && expectedVersion !== state.version) throw new ConcurrencyError(consentStreamId(withdraw.patientId), expectedVersion, state.version);
    const outcome = decideWithdrawConsent(withdraw, state);
    if (!outcome.ok) {
      if (outcome.code === 'nothing-to-withdraw') throw new NotFoundError(outcome.message, { purpose: withdraw.purpose as Purpose }, outcome.code);
      throw new ValidationError(outcome.message, undefined, outcome.code);
    }
    const stored = await appendConsent(this.store, withdraw.patientId, state.version, outcome.event, ctx, now);
    return { version: stored.version, eventId: stored.eventId, sequence: stored.globalSeq, receipt: await this.receipts.receiptFor(stored) };
  }
}

export const CONSENT_COMMAND_HANDLERS = [ChangeConsentHandler, WithdrawConsentHandler];
