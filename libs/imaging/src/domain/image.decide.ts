import type { Decider } from '@custos/decider';
import { AlreadyExistsError } from '@custos/errors';
import type { ImageEvent, ImageRegisteredData } from './image.events.js';

/** One image's stream: registered once, never again. */
export interface ImageState {
  readonly registered: boolean;
}

export type RegisterImage = { readonly type: 'RegisterImage'; readonly image: ImageRegisteredData };

export const imageDecider: Decider<ImageState, RegisterImage, ImageEvent> = {
  initialState: { registered: false },
  evolve: () => ({ registered: true }),
  decide(command, state) {
    if (state.registered) throw new AlreadyExistsError(`image ${command.image.imageId} is already registered`, { imageId: command.image.imageId }, 'image-exists');
    return [{ type: 'ImageRegistered', data: command.image }];
  },
};
