import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ConcurrencyError, AlreadyExistsError } from '@custos/errors';
import { type CommandContext, EventStore, handle } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { imageDecider } from './domain/image.decide.js';
import { type ImageRegisteredData, imageStreamId } from './domain/image.events.js';
import { imageCodec } from './image.codec.js';

export class RegisterImageCommand {
  constructor(
    readonly image: ImageRegisteredData,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(RegisterImageCommand)
export class RegisterImageHandler implements ICommandHandler<RegisterImageCommand, { eventId: string; sequence: number }> {
  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  async execute({ image, context }: RegisterImageCommand): Promise<{ eventId: string; sequence: number }> {
    try {
      const { events } = await handle(this.store, imageStreamId(image.imageId), imageDecider, { type: 'RegisterImage', image }, context, {
        codec: imageCodec,
        now: this.clock.now(),
        patientId: image.patientId,
      });
      return { eventId: events[0]!.eventId, sequence: events[0]!.globalSeq };
    } catch (e) {
      // Two registrations raced: the loser sees the same answer as a late second registration.
      if (e instanceof ConcurrencyError) throw new AlreadyExistsError(`image ${image.imageId} is already registered`, { imageId: image.imageId }, 'image-exists');
      throw e;
    }
  }
}
