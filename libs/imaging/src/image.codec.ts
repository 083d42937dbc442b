import { eventCodec } from '@custos/event-store';
import type { ImageEvent } from './domain/image.events.js';

export const imageCodec = eventCodec<ImageEvent>({ ImageRegistered: { version: 1 } });
