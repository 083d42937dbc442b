import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ConcurrencyError, AlreadyExistsError } from '@custos/errors';
import { type CommandContext, EventStore } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { type ImageRegisteredData, imageStreamId } from './domain/image.events.js';
import { imageShell } from './image.codec.js';

export class RegisterImageCommand {
  constructor(
    readonly image: ImageRegisteredData,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(RegisterImageCommand)
export class RegisterImageHandler implements ICommandHandler<RegisterImageCommand, { eventId: string; sequence: number }> {
  private readonly shell;

  constructor(@Inject(EventStore) store: EventStore, @Inject(Clock) clock: Clock) {
    this.shell = imageShell(store, clock);
  }

  async execute({ image, context }: RegisterImageCommand): Promise<{ eventId: string; sequence: number }> {
    try {
      const { events } = await this.shell.handle(imageStreamId(image.imageId), { type: 'RegisterImage', image }, context, { patientId: image.patientId });
      return { eventId: events[0]!.eventId, sequence: events[0]!.globalSeq };
    } catch (e) {
      // Two registrations raced: the loser sees the same answer as a late second registration.
      if (e instanceof ConcurrencyError) throw new AlreadyExistsError(`image ${image.imageId} is already registered`, { imageId: image.imageId }, 'image-exists');
      throw e;
    }
  }
}
