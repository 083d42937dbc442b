import { given } from '@custos/testing';
import { logIntegrityDecider } from './log-integrity.decide.js';
import type { LogIntegrityAlarm, LogIntegrityAlarmCleared } from './log-integrity.events.js';

const refused: LogIntegrityAlarm = { type: 'LogIntegrityAlarm', data: { cause: 'witness-refused:http://w1:inconsistent', kind: 'witness-refused', detail: 'x', witnessUrl: 'http://w1', treeSize: 7, code: 'inconsistent' } };
const lag: LogIntegrityAlarm = { type: 'LogIntegrityAlarm', data: { cause: 'witness-lag:http://w1', kind: 'witness-lag', detail: 'no cosignature for 6 min', witnessUrl: 'http://w1', lagMs: 360_000 } };
const lagCleared: LogIntegrityAlarmCleared = { type: 'LogIntegrityAlarmCleared', data: { cause: 'witness-lag:http://w1', kind: 'witness-lag', detail: 'cosigned size 9' } };

describe('the log-integrity alarms', () => {
  it('raises a new cause once', () => given(logIntegrityDecider, []).when({ type: 'raise', alarm: refused.data }).then([refused]));
  it('records nothing when the same cause is raised again, at another size', () =>
    given(logIntegrityDecider, [refused]).when({ type: 'raise', alarm: { ...refused.data, treeSize: 8, detail: 'again' } }).then([]));
  it('raises a different cause beside an open one', () => given(logIntegrityDecider, [refused]).when({ type: 'raise', alarm: lag.data }).then([lag]));
  it('clears an open cause, with its kind', () => given(logIntegrityDecider, [lag]).when({ type: 'clear', cause: 'witness-lag:http://w1', detail: 'cosigned size 9' }).then([lagCleared]));
  it('clears nothing that is not open', () => given(logIntegrityDecider, [lag, lagCleared]).when({ type: 'clear', cause: 'witness-lag:http://w1', detail: 'again' }).then([]));
  it('raises a cause again after it was cleared: it changed', () => given(logIntegrityDecider, [lag, lagCleared]).when({ type: 'raise', alarm: lag.data }).then([lag]));
});
