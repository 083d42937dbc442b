import { commandShell, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { imageDecider, studyDecider } from './domain/image.decide.js';
import type { ImageEvent, StudyRegistered } from './domain/image.events.js';

export const imageCodec = eventCodec<ImageEvent>({ ImageRegistered: { version: 1 } });
export const studyCodec = eventCodec<StudyRegistered>({ StudyRegistered: { version: 1 } });
export const imageShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: imageDecider, codec: imageCodec });
/** Two instances of a new study registered at once: the loser reads the binding the winner made. */
export const studyShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: studyDecider, codec: studyCodec, retry: { when: (e) => e.code === 'concurrency-conflict', attempts: 3 } });
