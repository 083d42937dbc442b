import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { canReadPersonal, type Principal } from '@custos/authz';
import { type CommandContext, EventStore, type Handled } from '@custos/event-store';
import { Clock } from '@custos/platform';
import type { ChangeConsent, ConsentCommand, ConsentRules, ConsentState, WithdrawConsent } from './domain/consent.decide.js';
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

/** A change or a withdrawal as the edge asks it: who records it, the rules and the time are the handler's to add. */
export type ConsentRequest = ({ readonly type: 'ChangeConsent' } & Fields<ChangeConsent>) | ({ readonly type: 'WithdrawConsent' } & Fields<WithdrawConsent>);

export class RecordConsentCommand {
  constructor(
    readonly request: ConsentRequest,
    readonly expectedVersion: number | undefined,
    readonly principal: Principal,
    readonly context: CommandContext,
  ) {}
}

/**
 * Both consent commands (change, withdraw) through the one shell: load, check If-Match,
 * decide, append at the version read (a concurrent writer is a 409 naming the current
 * version, never a lost update), then answer with the signed receipt.
 */
@CommandHandler(RecordConsentCommand)
export class RecordConsentHandler implements ICommandHandler<RecordConsentCommand, ConsentChangeResult> {
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

  async execute({ request, expectedVersion, principal, context }: RecordConsentCommand): Promise<ConsentChangeResult> {
    const now = this.clock.now();
    const command: ConsentCommand = request.type === 'ChangeConsent' ? { ...request, recordedBy: principal, rules: this.rules, now } : { ...request, recordedBy: principal, rules: this.rules };
    const handled = await this.shell.handle(consentStreamId(request.patientId), command, context, { now, patientId: request.patientId, ...(expectedVersion !== undefined ? { expectedVersion } : {}) });
    this.reader.forget(request.patientId);
    return answer(this.receipts, handled, principal);
  }
}

async function answer(receipts: ConsentReceipts, handled: Handled<ConsentState, ConsentEvent>, principal: Principal): Promise<ConsentChangeResult> {
  const [event] = handled.events;
  if (!event) throw new Error('a consent command records one event'); // the decider refuses or records, never nothing
  const { stored } = event;
  return { version: stored.version, eventId: stored.eventId, sequence: stored.globalSeq, receipt: await receipts.receiptFor(stored, (field) => canReadPersonal(principal, stored.metadata.patientId ?? null, field)) };
}

export const CONSENT_COMMAND_HANDLERS = [RecordConsentHandler];
