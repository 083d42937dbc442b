import { commandShell, eventCodec, type EventStore } from '@custos/event-store';
import { registered } from '@custos/platform';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { logIntegrityDecider, type OpenAlarms } from './domain/log-integrity.decide.js';
import { alarmFromV1, type AlarmKind, type LogIntegrityAlarmData, type LogIntegrityEvent } from './domain/log-integrity.events.js';

export const logIntegrityCodec = eventCodec<LogIntegrityEvent>({
  LogIntegrityAlarm: { version: 2, upcast: { 1: (d) => alarmFromV1(d as Parameters<typeof alarmFromV1>[0]) } },
  LogIntegrityAlarmCleared: { version: 1 },
});

const STREAM = 'log-integrity';
const ACTOR = { id: 'custos-log', roles: ['system'] };

/**
 * The log's integrity alarms, one per distinct cause (stream `log-integrity`): an event, an
 * error line and a counted metric when a cause is first raised, nothing more while it stays
 * open, a line and an event when it ends. What is open is kept here (and read back from the
 * stream at start, so a restart neither forgets an open alarm nor raises it again); the store
 * is touched only when that changes, and every gateway raising the same cause at once still
 * records it once (the append expects the version read).
 */
export class LogAlarms {
  private open: OpenAlarms = new Map();
  private loaded: Promise<void> | undefined;
  private loadedAt = 0;
  private readonly raised = registered(
    'custos_log_integrity_alarms_total',
    () => new Counter({ name: 'custos_log_integrity_alarms_total', help: 'Log-integrity alarms raised (one per distinct cause until it ends), by kind', labelNames: ['kind'] }),
  );

  /** Every gateway raises and ends alarms on one stream: a conflict is decided again on what the other wrote. */
  private readonly shell;

  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
  ) {
    this.shell = commandShell({ store, clock: { now: () => new Date() }, decider: logIntegrityDecider, codec: logIntegrityCodec, retry: { when: () => true, attempts: 5 } });
  }

  /**
   * Reads what is open from the stream: once, and again when `maxAgeMs` has passed since (so a
   * gateway learns of alarms another one raised or ended, and its /health says the same).
   */
  load(maxAgeMs = Infinity): Promise<void> {
    if (this.loaded && Date.now() - this.loadedAt >= maxAgeMs) this.loaded = undefined;
    this.loadedAt = this.loaded ? this.loadedAt : Date.now();
    this.loaded ??= this.store.readStream(STREAM).then(
      (events) => void (this.open = events.reduce((s, e) => logIntegrityDecider.evolve(s, logIntegrityCodec.decode(e)), logIntegrityDecider.initialState)),
      (e: unknown) => {
        this.loaded = undefined;
        throw e;
      },
    );
    return this.loaded;
  }

  /** The alarms open now, of these kinds (all when none given). */
  current(...kinds: AlarmKind[]): LogIntegrityAlarmData[] {
    return [...this.open.values()].filter((a) => kinds.length === 0 || kinds.includes(a.kind));
  }

  isOpen(cause: string): boolean {
    return this.open.has(cause);
  }

  async raise(alarm: LogIntegrityAlarmData, now: Date): Promise<void> {
    await this.load();
    if (this.open.has(alarm.cause)) return;
    const events = await this.run({ type: 'raise', alarm }, now);
    if (events === 0) return; // another gateway raised it first
    this.raised.inc({ kind: alarm.kind });
    this.logger.error({ cause: alarm.cause, kind: alarm.kind, witness: alarm.witnessUrl, treeSize: alarm.treeSize, code: alarm.code, lagMs: alarm.lagMs }, `log: integrity alarm: ${alarm.detail}`);
  }

  async clear(cause: string, detail: string, now: Date): Promise<void> {
    await this.load();
    if (!this.open.has(cause)) return;
    if ((await this.run({ type: 'clear', cause, detail }, now)) > 0) this.logger.warn({ cause }, `log: integrity alarm ended: ${detail}`);
  }

  private async run(command: Parameters<typeof logIntegrityDecider.decide>[0], now: Date): Promise<number> {
    const done = await this.shell.handle(STREAM, command, { actor: ACTOR, correlationId: `log-integrity-${now.getTime()}` }, { now });
    this.open = done.state;
    return done.events.length;
  }
}
