import { trimOutbox } from '@custos/event-store';
import type { Database, EventStore } from '@custos/event-store';
import type { Logger } from 'pino';
import type { ProjectionRunner } from './projection-runner.js';

/**
 * Embedded mode's feed: projections read straight from the store, in process, from their
 * checkpoint on. Here the feed is the outbox's consumer, so it trims the outbox behind it.
 */
export class StoreEventFeed {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly db: Database,
    private readonly runner: ProjectionRunner,
    private readonly logger: Logger,
    private readonly options: { batchSize: number; pollIntervalMs: number },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  /** Projects everything committed so far; returns the position reached. */
  async catchUp(): Promise<number> {
    for (;;) {
      const position = await this.runner.position();
      const events = await this.store.readAll(position + 1, this.options.batchSize);
      if (events.length === 0) {
        await trimOutbox(this.db, position);
        return position;
      }
      await this.runner.applyBatch(events);
    }
  }

  private async run(): Promise<void> {
    let failing = false;
    while (this.running) {
      try {
        await this.catchUp();
        failing = false;
      } catch (e) {
        if (!failing) this.logger.error({ err: { message: (e as Error).message } }, 'projections: catch-up failed; retrying');
        failing = true;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollIntervalMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
