import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ConcurrencyError, AlreadyExistsError } from '@custos/errors';
import { type CommandContext, EventStore } from '@custos/event-store';
import { Clock } from '@custos/platform';
import { type ImageRegisteredData, imageStreamId, type StudyRegisteredData, studyStreamId } from './domain/image.events.js';
import { imageShell, studyShell } from './image.codec.js';

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

/**
 * Register a DICOM instance (stored through Custos, or found in the archive's feed): its study
 * is bound to its patient first (a study of another patient is refused), then the instance is
 * registered as an image. Idempotent: an instance registered before answers `registered: false`,
 * so the feed and STOW-RS may both see one instance and it is registered once.
 */
export class RegisterDicomInstanceCommand {
  constructor(
    readonly image: ImageRegisteredData & { readonly dicom: NonNullable<ImageRegisteredData['dicom']> },
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(RegisterDicomInstanceCommand)
export class RegisterDicomInstanceHandler implements ICommandHandler<RegisterDicomInstanceCommand, { registered: boolean; eventId?: string; sequence?: number }> {
  private readonly images;
  private readonly studies;

  constructor(@Inject(EventStore) store: EventStore, @Inject(Clock) clock: Clock) {
    this.images = imageShell(store, clock);
    this.studies = studyShell(store, clock);
  }

  async execute({ image, context }: RegisterDicomInstanceCommand): Promise<{ registered: boolean; eventId?: string; sequence?: number }> {
    const { studyUid } = image.dicom;
    await this.studies.handle(studyStreamId(studyUid), { type: 'RegisterStudy', study: { studyUid, patientId: image.patientId, datasetId: image.datasetId } }, context, { patientId: image.patientId });
    try {
      const { events } = await this.images.handle(imageStreamId(image.imageId), { type: 'RegisterImage', image }, context, { patientId: image.patientId });
      return { registered: true, eventId: events[0]!.eventId, sequence: events[0]!.globalSeq };
    } catch (e) {
      if (e instanceof ConcurrencyError || (e instanceof AlreadyExistsError && e.code === 'image-exists')) return { registered: false };
      throw e;
    }
  }
}

/**
 * Bind a study to its patient before any instance of it is stored (STOW-RS reserves the binding
 * first: of two stores of one study for two patients at once, one binds it and the other is
 * refused before the archive holds anything of it). Idempotent for the same patient.
 */
export class BindStudyCommand {
  constructor(
    readonly study: StudyRegisteredData,
    readonly context: CommandContext,
  ) {}
}

@CommandHandler(BindStudyCommand)
export class BindStudyHandler implements ICommandHandler<BindStudyCommand, void> {
  private readonly studies;

  constructor(@Inject(EventStore) store: EventStore, @Inject(Clock) clock: Clock) {
    this.studies = studyShell(store, clock);
  }

  async execute({ study, context }: BindStudyCommand): Promise<void> {
    await this.studies.handle(studyStreamId(study.studyUid), { type: 'RegisterStudy', study }, context, { patientId: study.patientId });
  }
}
