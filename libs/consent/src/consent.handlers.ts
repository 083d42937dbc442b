import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { canReadPersonal, type Principal } from '@custos/authz';
import { type CommandContext, EventStore, type Handled } from '@custos/event-store';
import { Clock } from '@custos/platform';
import type { ChangeConsent, ConsentRules, ConsentState, WithdrawConsent } from './domain/consent.decide.js';
import { type ConsentEvent, consentStreamId } from './domain/consent.events.js';
import { consentShell } from './consent.codec.js';
import { ConsentReader } from './consent-reader.js';
import { ConsentReceipts } from './consent.receipts.js';

/** The consent rules in force (defaults, restrictable purposes): validated config, injected. */
export const CONSENT_RULES = Symbol('CONSENT_RULES');

export interface ConsentChangeResult {
  readonly version: number;
  readonly eventId: string;
  readonly sequence: number;
  readonly receipt: string;
}

type Fields<C> = Omit<C, 'type' | 'recordedBy' | 'rules' | 'now'>;

export class ChangeConsentCommand {
  constructor(
    readonly change: Fields<ChangeConsent>,
    readonly expectedVersion: number | undefined,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

export class WithdrawConsentCommand {
  constructor(
    readonly withdraw: Fields<WithdrawConsent>,
    readonly expectedVersion: number | undefined,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

/**
 * Both consent commands through the one shell: load, check If-Match, decide, append at the
 * version read (a concurrent writer is a 409 naming the current version, never a lost
 * update), then answer with the signed receipt.
 */
@CommandHandler(ChangeConsentCommand)
export class ChangeConsentHandler implements ICommandHandler<ChangeConsentCommand, ConsentChangeResult> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(ConsentReceipts) private readonly receipts: ConsentReceipts,
    @Inject(CONSENT_RULES) private readonly rules: ConsentRules,
    @Inject(ConsentReader) private readonly reader: ConsentReader,
  ) {
    this.shell = consentShell(store, clock);
  }

  async execute({ change, expectedVersion, principal, context }: ChangeConsentCommand): Promise<ConsentChangeResult> {
    const now = this.clock.now();
    const command: ChangeConsent = { ...change, type: 'ChangeConsent', recordedBy: principal, rules: this.rules, now };
    const handled = await this.shell.handle(consentStreamId(change.patientId), command, context, { now, patientId: change.patientId, ...(expectedVersion !== undefined ? { expectedVersion } : {}) });
    this.reader.forget(change.patientId);
    return answer(this.receipts, handled, principal);
  }
}

@CommandHandler(WithdrawConsentCommand)
export class WithdrawConsentHandler implements ICommandHandler<WithdrawConsentCommand, ConsentChangeResult> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) clock: Clock,
    @Inject(ConsentReceipts) private readonly receipts: ConsentReceipts,
    @Inject(CONSENT_RULES) private readonly rules: ConsentRules,
    @Inject(ConsentReader) private readonly reader: ConsentReader,
  ) {
    this.shell = consentShell(store, clock);
  }

  async execute({ withdraw, expectedVersion, principal, context }: WithdrawConsentCommand): Promise<ConsentChangeResult> {
    const command: WithdrawConsent = { ...withdraw, type: 'WithdrawConsent', recordedBy: principal, rules: this.rules };
    const handled = await this.shell.handle(consentStreamId(withdraw.patientId), command, context, { patientId: withdraw.patientId, ...(expectedVersion !== undefined ? { expectedVersion } : {}) });
    this.reader.forget(withdraw.patientId);
    return answer(this.receipts, handled, principal);
  }
}

async function answer(receipts: ConsentReceipts, handled: Handled<ConsentState, ConsentEvent>, principal: Principal): Promise<ConsentChangeResult> {
  const [event] = handled.events;
  if (!event) throw new Error('a consent command records one event'); // the decider refuses or records, never nothing
  const { stored } = event;
  return { version: stored.version, eventId: stored.eventId, sequence: stored.globalSeq, receipt: await receipts.receiptFor(stored, (field) => canReadPersonal(principal, stored.metadata.patientId ?? null, field)) };
}

export const CONSENT_COMMAND_HANDLERS = [ChangeConsentHandler, WithdrawConsentHandler];
