import { jest } from '@jest/globals';
import { CommitFeed, EventStore, type NewEvent } from '@custos/event-store';
import { RandomIds } from '@custos/platform';
import { openTestStore, type TestStore } from '@custos/testing';
import pino from 'pino';
import { SentinelRunner } from './sentinel-runner.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const T0 = Date.parse('2026-11-02T19:00:00Z');
const access = (actor: string, patientId: string, at: number, decision: 'PERMIT' | 'DENY' = 'PERMIT'): NewEvent => ({
  type: 'AccessDecided',
  schemaVersion: 2,
  data: { resourceType: 'image', resourceId: `img-${patientId}`, action: 'view', purpose: 'TREATMENT', patientId, decision, rule: 'r', reason: 'x', emergency: false, consentVersion: 0, policyVersion: 'v' },
  metadata: { actor: { id: actor, roles: ['clinician'] }, correlationId: 'c', patientId },
  occurredAt: new Date(at),
});

/**
 * The embedded sentinel takes what its process commits from memory (CommitFeed) and reads the
 * store only for what the feed lacks: another process's events, or more than it keeps. It must
 * raise exactly what it raises reading everything back.
 */
describe('the sentinel fed in memory (embedded)', () => {
  let t: TestStore;
  const logger = pino({ level: 'silent' });
  afterEach(async () => {
    await t.close();
  });

  async function run(withFeed: boolean, feedSize = 20_000): Promise<{ types: string[]; reads: number }> {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
    const feed = new CommitFeed(feedSize);
    const detach = feed.attach(t.store);
    const other = new EventStore(t.db, { ids: new RandomIds() }); // another process: its commits never reach the feed
    const runner = new SentinelRunner(t.db, t.store, logger);
    if (withFeed) runner.useFeed(feed);
    const reads = jest.spyOn(t.store, 'readAll');
    // A snooper through this process and through another, a prober here; rounds in between, as commits wake them.
    for (let i = 0; i < 35; i++) {
      await (i % 7 === 3 ? other : t.store).append(`access-q${i}`, [access('snoop', `q${i}`, T0 + i * 60_000)], { expectedVersion: 'any' });
      if (i % 5 === 0) await runner.catchUp();
    }
    for (let i = 0; i < 10; i++) await t.store.append('access-z', [access('prober', 'z', T0 + i * 1000, 'DENY')], { expectedVersion: 'any' });
    await runner.catchUp();
    await runner.catchUp();
    const readCalls = reads.mock.calls.length;
    reads.mockRestore();
    detach();
    expect(runner.counts.alreadyRecorded).toBe(0);
    const types = (await t.store.readAll(0, 10_000)).map((e) => e.type).filter((x) => x !== 'AccessDecided');
    return { types, reads: readCalls };
  }

  it('raises what reading back raises, and reads the store only for the other process\'s events', async () => {
    const fromStore = await run(false);
    await t.close();
    const fromMemory = await run(true);
    expect(fromStore.types).toEqual(['DetectionRaised', 'IncidentOpened', 'DetectionRaised', 'IncidentOpened']);
    expect(fromMemory.types).toEqual(fromStore.types);
    expect(fromMemory.reads).toBeLessThan(fromStore.reads);
  });

  it('past what the feed keeps, reads the rest from the store and still raises the same', async () => {
    const small = await run(true, 3);
    expect(small.types).toEqual(['DetectionRaised', 'IncidentOpened', 'DetectionRaised', 'IncidentOpened']);
  });
});
