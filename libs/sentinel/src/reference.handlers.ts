import { createHmac } from 'node:crypto';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandContext, commandShell, eventCodec, EventStore } from '@custos/event-store';
import { fold } from '@custos/decider';
import { KeyService } from '@custos/keys';
import { ValidationError } from '@custos/errors';
import { Clock, parseInstant } from '@custos/platform';
import { normaliseForIndex } from './domain/reference.normalise.js';
import { type PatientProfileRecordedData, profileStreamId, referenceDecider, type ReferenceEvent, type WorkforceMemberRecordedData, workforceStreamId } from './domain/reference.events.js';

export const referenceCodec = eventCodec<ReferenceEvent>({ PatientProfileRecorded: { version: 1 }, WorkforceMemberRecorded: { version: 1 } });
export const referenceShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: referenceDecider, codec: referenceCodec });

/** The owner of the key behind blind indexes (a data key like any other, wrapped by the KEK). */
const BLIND_INDEX_OWNER = 'custos:blind-index';

/**
 * A blind index: HMAC-SHA-256 under a key of the key service over the normalised text
 * (`normaliseForIndex`: default-ignorable code points dropped, NFKC, case-folded, letters, marks
 * and digits only), first 32 hex digits. Equal names give equal indexes; the index says nothing
 * of the name without the key. Indexes are stored in the events: records written before the
 * normalisation dropped ignorables and inner punctuation keep the index they were written with
 * until they are recorded again (docs/incidents.md).
 */
export async function blindIndex(keys: KeyService, kind: 'family-name' | 'address' | 'department', text: string): Promise<string> {
  const { key } = await keys.dataKeyFor(BLIND_INDEX_OWNER);
  const normalised = normaliseForIndex(text);
  const raw = Buffer.from((key.toJSON(true) as { k: string }).k, 'base64url');
  return createHmac('sha256', raw).update(`${kind}\u0000${normalised}`).digest('hex').slice(0, 32);
}

export type PatientProfileInput = Omit<PatientProfileRecordedData, 'patientId' | 'familyNameIndex' | 'addressIndex'>;
export type WorkforceInput = Omit<WorkforceMemberRecordedData, 'actorId' | 'familyNameIndex' | 'addressIndex' | 'departmentIndex'>;

export class RecordPatientProfileCommand extends Command<RecordedReference> {
  constructor(
    readonly patientId: string,
    readonly profile: PatientProfileInput,
    readonly context: CommandContext,
  ) {
    super();
  }
}

/** A workforce record as an admin writes it: `since` as written (a date or an instant, not in the future), their own patient record if any. */
export type WorkforceRequest = Omit<WorkforceInput, 'patientId'> & { readonly patientId?: string | null };

export class RecordWorkforceMemberCommand extends Command<RecordedReference> {
  constructor(
    readonly actorId: string,
    readonly member: WorkforceRequest,
    readonly context: CommandContext,
  ) {
    super();
  }
}

export interface RecordedReference {
  readonly version: number;
  readonly changed: boolean;
}

/** Both records: blind indexes of name and address, then the decider (the same record again records nothing). */
async function record(
  deps: { store: EventStore; clock: Clock; keys: KeyService },
  streamId: string,
  person: { familyName: string; address: string },
  event: (indexes: { familyNameIndex: string; addressIndex: string }) => ReferenceEvent,
  context: CommandContext,
  patientId?: string,
): Promise<RecordedReference> {
  const indexes = { familyNameIndex: await blindIndex(deps.keys, 'family-name', person.familyName), addressIndex: await blindIndex(deps.keys, 'address', person.address) };
  // The recorder's own workforce record: whether they are related to the patient (separation of duties, decided by the decider).
  const own = fold(referenceDecider, (await deps.store.readStream(workforceStreamId(context.actor.id))).map((e) => referenceCodec.decode(e)));
  const recorder = own?.type === 'WorkforceMemberRecorded' ? own.data : null;
  const handled = await referenceShell(deps.store, deps.clock).handle(streamId, { type: 'Record', event: event(indexes), recordedBy: context.actor.id, recorder }, context, patientId ? { patientId } : {});
  return { version: handled.version, changed: handled.events.length > 0 };
}

@CommandHandler(RecordPatientProfileCommand)
export class RecordPatientProfileHandler implements ICommandHandler<RecordPatientProfileCommand> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(KeyService) private readonly keys: KeyService,
  ) {}

  execute({ patientId, profile, context }: RecordPatientProfileCommand): Promise<RecordedReference> {
    return record({ store: this.store, clock: this.clock, keys: this.keys }, profileStreamId(patientId), profile, (indexes) => ({ type: 'PatientProfileRecorded', data: { patientId, ...profile, ...indexes } }), context, patientId);
  }
}

@CommandHandler(RecordWorkforceMemberCommand)
export class RecordWorkforceMemberHandler implements ICommandHandler<RecordWorkforceMemberCommand> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(KeyService) private readonly keys: KeyService,
  ) {}

  async execute({ actorId, member: asked, context }: RecordWorkforceMemberCommand): Promise<RecordedReference> {
    const since = parseInstant('since', asked.since);
    if (since.getTime() > this.clock.now().getTime() + 86_400_000) throw new ValidationError('since lies in the future', undefined, 'bad-date');
    const member: WorkforceInput = { familyName: asked.familyName, address: asked.address, department: asked.department, status: asked.status, since: since.toISOString(), patientId: asked.patientId ?? null };
    const departmentIndex = await blindIndex(this.keys, 'department', member.department);
    return record({ store: this.store, clock: this.clock, keys: this.keys }, workforceStreamId(actorId), member, (indexes) => ({ type: 'WorkforceMemberRecorded', data: { actorId, ...member, ...indexes, departmentIndex } }), context);
  }
}

export const REFERENCE_HANDLERS = [RecordPatientProfileHandler, RecordWorkforceMemberHandler];
