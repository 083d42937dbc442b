import { commandShell, eventCodec, type EventStore } from '@custos/event-store';
import type { Clock } from '@custos/platform';
import { modelDecider } from './domain/model.decide.js';
import type { ModelEvent } from './domain/model.events.js';

export const modelCodec = eventCodec<ModelEvent>({ ModelRegistered: { version: 1 }, ModelEvaluated: { version: 1 } });

/**
 * The model stream's shell. A conflict (two registrations of the same name and version racing,
 * two evaluations appended at once) is decided again on the stream as it then stands: the
 * second registration becomes 409 model-exists, the second evaluation is appended after the first.
 */
export const modelShell = (store: EventStore, clock: Clock) => commandShell({ store, clock, decider: modelDecider, codec: modelCodec, retry: { when: () => true, attempts: 5 } });
