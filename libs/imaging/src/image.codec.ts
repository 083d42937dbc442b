import { commandShell, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { imageDecider } from './domain/image.decide.js';
import type { ImageEvent } from './domain/image.events.js';

export const imageCodec = eventCodec<ImageEvent>({ ImageRegistered: { version: 1 } });
export const imageShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: imageDecider, codec: imageCodec });
