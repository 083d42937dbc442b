import type { Decider } from '@custos/decider';
import type { LogIntegrityAlarmData, LogIntegrityEvent } from './log-integrity.events.js';

/** The alarms open now, by cause. */
export type OpenAlarms = ReadonlyMap<string, LogIntegrityAlarmData>;

export type LogIntegrityCommand =
  | { readonly type: 'raise'; readonly alarm: LogIntegrityAlarmData }
  | { readonly type: 'clear'; readonly cause: string; readonly detail: string };

/**
 * One alarm per distinct cause until it ends: raising a cause already open records nothing
 * (a witness that refuses every checkpoint is one alarm, not one per checkpoint, and the
 * alarm's own event cannot start another), clearing one that is not open records nothing.
 */
export const logIntegrityDecider: Decider<OpenAlarms, LogIntegrityCommand, LogIntegrityEvent> = {
  initialState: new Map(),
  evolve(state, event) {
    const next = new Map(state);
    if (event.type === 'LogIntegrityAlarm') next.set(event.data.cause, event.data);
    else next.delete(event.data.cause);
    return next;
  },
  decide(command, state) {
    if (command.type === 'raise') return state.has(command.alarm.cause) ? [] : [{ type: 'LogIntegrityAlarm', data: command.alarm }];
    const open = state.get(command.cause);
    return open ? [{ type: 'LogIntegrityAlarmCleared', data: { cause: command.cause, kind: open.kind, detail: command.detail } }] : [];
  },
};
