import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, commandShell, eventCodec, EventStore } from '@custos/event-store';
import { KeyService, PayloadCipher } from '@custos/keys';
import { Clock } from '@custos/platform';
import { dataProtectionDecider, keysDecider } from './domain/data-protection.decide.js';
import { type DataProtectionEvent, KEYS_STREAM, type KeysRotated, type KeysRotatedData, patientStreamId } from './domain/data-protection.events.js';

export const dataProtectionCodec = eventCodec<DataProtectionEvent>({ LegalHoldChanged: { version: 1 }, PatientDataErased: { version: 1 } });
export const keysCodec = eventCodec<KeysRotated>({ KeysRotated: { version: 1 } });

/** A patient's data-protection stream (legal hold, erasure) and the keys stream: their command shells. */
export const dataProtectionShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: dataProtectionDecider, codec: dataProtectionCodec });
export const keysShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: keysDecider, codec: keysCodec });

export interface RecordedChange {
  readonly version: number;
  readonly eventId: string | null;
  readonly sequence: number | null;
}

export class SetLegalHoldCommand {
  constructor(
    readonly patientId: string,
    readonly active: boolean,
    readonly reference: string,
    readonly context: CommandContext,
  ) {}
}

export class ErasePatientDataCommand {
  constructor(
    readonly patientId: string,
    readonly reference: string,
    readonly context: CommandContext,
  ) {}
}

export class RotateKeysCommand {
  constructor(
    readonly kind: 'kek' | 'signing',
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(SetLegalHoldCommand)
export class SetLegalHoldHandler implements ICommandHandler<SetLegalHoldCommand, RecordedChange> {
  private readonly shell;

  constructor(@Inject(EventStore) store: EventStore, @Inject(Clock) clock: Clock) {
    this.shell = dataProtectionShell(store, clock);
  }

  async execute({ patientId, active, reference, context }: SetLegalHoldCommand): Promise<RecordedChange> {
    const handled = await this.shell.handle(patientStreamId(patientId), { type: 'SetLegalHold', patientId, active, reference }, context, { patientId });
    const [event] = handled.events;
    return { version: handled.version, eventId: event?.eventId ?? null, sequence: event?.globalSeq ?? null };
  }
}

/** What an erasure leaves in place under the legal-claims exception (GDPR Art. 17(3)(e)). */
export interface RetainedRecords {
  readonly basis: string;
  readonly what: string;
  readonly incidents: string[];
}

/**
 * Which records of a patient are kept for legal claims: the incident context's, wired by the
 * app (consent depends on no other context).
 */
export abstract class LegalClaimsRetention {
  abstract retainedFor(patientId: string): Promise<RetainedRecords>;
}

export type Erased = RecordedChange & { keysDestroyed: string[]; retained: RetainedRecords };

/**
 * Erasure by crypto-shredding: `PatientDataErased` is appended first (naming the keys), then
 * the keys are destroyed. If destroying fails after the append, the answer is a 503 and the
 * request may be sent again: erasing again is allowed and recorded again. Every event of the
 * patient stays, the chain still verifies, and their personal fields read `{"erased": true}`.
 * The answer names what is retained for legal claims (security incident records).
 */
@CommandHandler(ErasePatientDataCommand)
export class ErasePatientDataHandler implements ICommandHandler<ErasePatientDataCommand, Erased> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(KeyService) private readonly keys: KeyService,
    @Inject(PayloadCipher) private readonly cipher: PayloadCipher,
    @Inject(LegalClaimsRetention) private readonly retention: LegalClaimsRetention,
  ) {
    this.shell = dataProtectionShell(store, clock);
  }

  async execute({ patientId, reference, context }: ErasePatientDataCommand): Promise<Erased> {
    // The time of the request, before the keys are listed (as it always was).
    const now = this.clock.now();
    const kids = await this.keys.activeKids(patientId);
    const handled = await this.shell.handle(patientStreamId(patientId), { type: 'ErasePatientData', patientId, reference, keys: kids }, context, { now, patientId });
    const destroyed = await this.keys.destroy(patientId);
    this.cipher.forgetOpened();
    const [event] = handled.events;
    return { version: handled.version, eventId: event?.eventId ?? null, sequence: event?.globalSeq ?? null, keysDestroyed: [...new Set([...kids, ...destroyed])], retained: await this.retention.retainedFor(patientId) };
  }
}

@CommandHandler(RotateKeysCommand)
export class RotateKeysHandler implements ICommandHandler<RotateKeysCommand, KeysRotatedData & { eventId: string | null }> {
  private readonly shell;

  constructor(
    @Inject(EventStore) store: EventStore,
    @Inject(Clock) clock: Clock,
    @Inject(KeyService) private readonly keys: KeyService,
  ) {
    this.shell = keysShell(store, clock);
  }

  async execute({ kind, context }: RotateKeysCommand): Promise<KeysRotatedData & { eventId: string | null }> {
    let rotation: KeysRotatedData;
    if (kind === 'kek') {
      const r = await this.keys.rotateKek();
      rotation = { kind, previous: r.previous, active: [r.active], rewrapped: r.dataKeys + r.signingKeys };
    } else {
      const previous: string[] = [];
      const active: string[] = [];
      for (const purpose of await this.keys.signingPurposes()) {
        const r = await this.keys.rotateSigning(purpose);
        if (r.retired) previous.push(r.retired);
        active.push(r.active);
      }
      rotation = { kind, previous, active, rewrapped: 0 };
    }
    const handled = await this.shell.handle(KEYS_STREAM, { type: 'RecordRotation', rotation }, context, { expectedVersion: 'any' });
    return { ...rotation, eventId: handled.events[0]?.eventId ?? null };
  }
}

export const DATA_PROTECTION_COMMAND_HANDLERS = [SetLegalHoldHandler, ErasePatientDataHandler, RotateKeysHandler];
