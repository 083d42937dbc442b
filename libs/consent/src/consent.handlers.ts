import { Inject } from '@nestjs/common';
import { CommandHandler, ICommandHandler } from '@nestjs/cqrs';
import { commandMetadata, type CommandContext } from '@custos/access';
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

/**
 * The shell every consent command shares: load the stream, check If-Match, decide, append at
 * the version read (a concurrent writer makes it a 409 naming the current version, never a
 * lost update), answer with the receipt.
 */
async function runConsentCommand(
  store: EventStore,
  receipts: ConsentReceipts,
  patientId: string,
  expectedVersion: number | undefined,
  ctx: CommandContext,
  now: Date,
  decide: (state: ReturnType<typeof foldConsent>) => ConsentEvent,
): Promise<ConsentChangeResult> {
  const stream = consentStreamId(patientId);
  const state = foldConsent((await store.readStream(stream)) as unknown as ConsentEvent[]);
  if (expectedVersion !== undefined && expectedVersion !== state.version) throw new ConcurrencyError(stream, expectedVersion, state.version);
  const event = decide(state);
  const result = await store.append(
    stream,
    [{ ...event, schemaVersion: 1, metadata: commandMetadata(ctx, patientId), occurredAt: now }],
    { expectedVersion: state.version },
  );
  const stored = result.events[0] as StoredEvent;
  return { version: stored.version, eventId: stored.eventId, sequence: stored.globalSeq, receipt: await receipts.receiptFor(stored) };
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

  execute({ change, expectedVersion, ctx }: ChangeConsentCommand): Promise<ConsentChangeResult> {
    const now = this.clock.now();
    return runConsentCommand(this.store, this.receipts, change.patientId, expectedVersion, ctx, now, (state) => {
      const outcome = decideChangeConsent({ ...change, now }, state);
      if (!outcome.ok) throw new ValidationError(outcome.message, undefined, outcome.code);
      return outcome.event;
    });
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

  execute({ withdraw, expectedVersion, ctx }: WithdrawConsentCommand): Promise<ConsentChangeResult> {
    return runConsentCommand(this.store, this.receipts, withdraw.patientId, expectedVersion, ctx, this.clock.now(), (state) => {
      const outcome = decideWithdrawConsent(withdraw, state);
      if (outcome.ok) return outcome.event;
      if (outcome.code === 'nothing-to-withdraw') throw new NotFoundError(outcome.message, { purpose: withdraw.purpose as Purpose }, outcome.code);
      throw new ValidationError(outcome.message, undefined, outcome.code);
    });
  }
}

export const CONSENT_COMMAND_HANDLERS = [ChangeConsentHandler, WithdrawConsentHandler];
