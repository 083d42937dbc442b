/**
 * Events of the log's integrity alarms (stream `log-integrity`): readonly data, a
 * discriminated union on `type`. An alarm is raised once per cause and stays open until the
 * cause ends (`LogIntegrityAlarmCleared`), so a cause that persists is one event, not one per
 * checkpoint.
 */
export type AlarmKind = 'witness-refused' | 'witness-lag' | 'bad-checkpoint';

export interface LogIntegrityAlarmData {
  /** What the alarm is about, as a key: `witness-refused:<url>:<code>`, `witness-lag:<url>`, `bad-checkpoint`. */
  readonly cause: string;
  readonly kind: AlarmKind;
  /** In words, for the operator. */
  readonly detail: string;
  readonly witnessUrl?: string;
  /** The tree size concerned: the refused checkpoint, the first bad row, the last cosigned size. */
  readonly treeSize?: number;
  /** The witness's refusal code. */
  readonly code?: string;
  /** How long the log had grown without this witness's cosignature, ms. */
  readonly lagMs?: number;
}

export interface LogIntegrityAlarmClearedData {
  readonly cause: string;
  readonly kind: AlarmKind;
  readonly detail: string;
}

export type LogIntegrityAlarm = { readonly type: 'LogIntegrityAlarm'; readonly data: LogIntegrityAlarmData };
export type LogIntegrityAlarmCleared = { readonly type: 'LogIntegrityAlarmCleared'; readonly data: LogIntegrityAlarmClearedData };
export type LogIntegrityEvent = LogIntegrityAlarm | LogIntegrityAlarmCleared;

/** v1 of LogIntegrityAlarm was a witness's refusal alone; its cause is the witness and the code. */
export function alarmFromV1(data: { witnessUrl: string; treeSize: number; code: string; detail: string }): LogIntegrityAlarmData {
  return {
    ...data,
    cause: `witness-refused:${data.witnessUrl}:${data.code}`,
    kind: 'witness-refused',
    detail: `witness ${data.witnessUrl} refused the checkpoint of size ${data.treeSize} (${data.code}: ${data.detail})`,
  };
}
