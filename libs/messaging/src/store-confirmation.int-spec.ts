import type { StoredEvent } from '@custos/event-store';
import { createLogger } from '@custos/platform';
import { openTestStore, testEvent, type TestStore } from '@custos/testing';
import { register } from 'prom-client';
import { ProjectionIntegrity, type Refusal, StoreConfirmation } from './index.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

const logger = createLogger('silent');

describe.each(['pglite', 'postgres'] as const)('StoreConfirmation on %s: the topics are claims, the store decides', (kind) => {
  let t: TestStore;
  let real: StoredEvent[];
  beforeEach(async () => {
    t = await openTestStore(kind, ALL_MIGRATIONS);
    await t.store.append('access-a1', [testEvent('AccessDecided', { patientId: 'p1' }, 'p1'), testEvent('AccessDecided', { patientId: 'p1' }, 'p1')], { expectedVersion: 'no-stream' });
    await t.store.append('consent-p2', [testEvent('ConsentGranted', { patientId: 'p2' }, 'p2')], { expectedVersion: 'no-stream' });
    real = await t.store.readAll(0);
  });
  afterEach(async () => {
    await t.close();
  });

  function confirmation(refused: Refusal[], waitMs = 50): StoreConfirmation {
    return new StoreConfirmation(t.db, { waitMs, pollMs: 10, onRefused: (r) => void refused.push(r) });
  }

  it('returns the store’s copies of what the messages claim, once each, oldest first', async () => {
    const refused: Refusal[] = [];
    const messages = JSON.parse(JSON.stringify([real[2], real[0], real[0], real[1]])) as unknown[];
    expect(await confirmation(refused).confirm(messages)).toEqual(real);
    expect(refused).toEqual([]);
  });

  it('never applies a message body: a copy with the right hash but other data yields the store’s event', async () => {
    const refused: Refusal[] = [];
    const doctored = { ...real[0]!, data: { patientId: 'p-invented' }, metadata: { ...real[0]!.metadata, patientId: 'p-invented' } };
    const [confirmed] = await confirmation(refused).confirm([doctored]);
    expect(confirmed).toEqual(real[0]);
    expect(JSON.stringify(confirmed)).not.toContain('p-invented');
  });

  it('refuses a forged hash, stream, version, event id or type at a real sequence, and still returns the real event there', async () => {
    const refused: Refusal[] = [];
    const base = real[1]!;
    const forgeries = [
      { ...base, hash: 'f'.repeat(64) },
      { ...base, streamId: 'access-other' },
      { ...base, version: 7 },
      { ...base, eventId: '00000000-0000-4000-8000-000000000000' },
      { ...base, type: 'AccessRevoked' },
    ];
    expect(await confirmation(refused).confirm(forgeries)).toEqual([base]);
    expect(refused).toHaveLength(5);
    for (const r of refused) expect(r).toMatchObject({ reason: 'mismatch', globalSeq: base.globalSeq, storedHash: base.hash });
    expect(new Set(refused.map((r) => r.digest)).size).toBe(5);
  });

  it('waits briefly for a sequence beyond the head, then refuses it; the real event there is confirmed when it comes', async () => {
    const refused: Refusal[] = [];
    const c = confirmation(refused, 300);
    const ahead = { ...real[0]!, globalSeq: real.length, eventId: '00000000-0000-4000-8000-000000000001', hash: 'f'.repeat(64) };
    const started = Date.now();
    expect(await c.confirm([ahead])).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(refused).toEqual([expect.objectContaining({ reason: 'not-in-store', globalSeq: real.length, claimedHash: 'f'.repeat(64), storedHash: null })]);

    // Appended while a forged message for the next sequence waits: that one is refused as a
    // mismatch, and the store's events are returned, including the real one at the sequence
    // refused before, though its own message has not come (nor may ever, e.g. a lagging replica).
    const pending = c.confirm([{ ...ahead, globalSeq: real.length + 1, hash: 'e'.repeat(64) }]);
    await t.store.append('access-a2', [testEvent('AccessDecided', { patientId: 'p3' }, 'p3'), testEvent('AccessDecided', { patientId: 'p3' }, 'p3')], { expectedVersion: 'no-stream' });
    const atHead = await t.store.readAll(real.length);
    expect(await pending).toEqual(atHead); // the store's events, not the messages
    expect(refused.at(-1)).toMatchObject({ reason: 'mismatch', globalSeq: real.length + 1 });
    // Looked up once: a later batch does not return it again.
    expect(await c.confirm([])).toEqual([]);
    expect(await c.confirm([JSON.parse(JSON.stringify(atHead[0]))])).toEqual([atHead[0]]);
  });

  it('returns the real event at a sequence refused as not in the store once it is there, its own message or not', async () => {
    const refused: Refusal[] = [];
    const c = confirmation(refused, 30);
    const ahead = { ...real[0]!, globalSeq: real.length, eventId: '00000000-0000-4000-8000-000000000002', hash: 'f'.repeat(64) };
    expect(await c.confirm([ahead])).toEqual([]);
    await t.store.append('access-a3', [testEvent('AccessDecided', { patientId: 'p4' }, 'p4')], { expectedVersion: 'no-stream' });
    const [arrived] = await t.store.readAll(real.length);
    expect(await c.confirm([JSON.parse(JSON.stringify(real[0]))])).toEqual([real[0], arrived]);
    expect(refused).toHaveLength(1);
  });

  it('refuses what is not an envelope (null, arrays, strings, huge or negative sequences, bad hashes) without throwing', async () => {
    const refused: Refusal[] = [];
    const junk: unknown[] = [null, [], 'x', 42, { ...real[0]!, globalSeq: -1 }, { ...real[0]!, globalSeq: 2 ** 60 }, { ...real[0]!, globalSeq: '0' }, { ...real[0]!, hash: 'F'.repeat(64) }, { ...real[0]!, hash: null }, { globalSeq: { $gt: 0 } }];
    expect(await confirmation(refused).confirm(junk)).toEqual([]);
    expect(refused).toHaveLength(junk.length);
    expect(refused.every((r) => r.reason === 'malformed')).toBe(true);
  });

  it('reports one distinct message once, however often it comes', async () => {
    const refused: Refusal[] = [];
    const c = confirmation(refused);
    const forged = { ...real[0]!, hash: 'f'.repeat(64) };
    await c.confirm([forged, forged]);
    await c.confirm([JSON.parse(JSON.stringify(forged))]);
    expect(refused).toHaveLength(1);
  });

  it('the alarm: one event in the log per message even from two projectors, nothing personal in it, health and metric', async () => {
    const a = new ProjectionIntegrity(t.store, logger);
    const b = new ProjectionIntegrity(t.store, logger);
    expect(() => a.check()).not.toThrow();
    const refused: Refusal[] = [];
    await confirmation(refused).confirm([{ ...real[0]!, hash: 'f'.repeat(64), metadata: { ...real[0]!.metadata, actor: { id: 'ghost-1', roles: [] }, patientId: 'p-invented' } }]);
    const before = (await register.getSingleMetricAsString('custos_projection_integrity_refusals_total').catch(() => '')) ?? '';
    await a.raise(refused[0]!);
    await b.raise(refused[0]!);
    const alarms = (await t.store.readAll(0)).filter((e) => e.type === 'ProjectionIntegrityAlarm');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.data).toMatchObject({ reason: 'mismatch', globalSeq: 0, claimedHash: 'f'.repeat(64), storedHash: real[0]!.hash });
    expect(JSON.stringify(alarms[0])).not.toMatch(/p-invented|ghost-1|"p1"/);
    expect(() => a.check()).toThrow(/sequence 0 \(mismatch/);
    const after = await register.getSingleMetricAsString('custos_projection_integrity_refusals_total');
    expect(after).not.toEqual(before);
    expect(after).toMatch(/reason="mismatch"/);
  });
});
