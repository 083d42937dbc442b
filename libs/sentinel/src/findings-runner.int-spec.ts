import type { NewEvent } from '@custos/event-store';
import { ProjectionRunner } from '@custos/projections';
import { openTestStore, snapshotTables, type TestStore } from '@custos/testing';
import pino from 'pino';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { FindingsProjection } from './findings.projection.js';
import { SentinelRunner } from './sentinel-runner.js';

const T0 = Date.parse('2026-11-02T19:00:00Z');
const event = (type: string, data: Record<string, unknown>, at: number, actor = 'dev-1'): NewEvent => ({ type, schemaVersion: 1, data, metadata: { actor: { id: actor, roles: ['model-developer'] }, correlationId: 'c' }, occurredAt: new Date(at) });
const gap = { dimension: 'sex', metric: 'sensitivity', gap: 0.2, groups: ['male', 'female'] };
const snapshotRef = { datasetId: 'ds-1', snapshotId: 's1', rootHash: 'ab'.repeat(32), treeSize: 1, purpose: 'AI_TRAINING' };

describe('the sentinel runner records findings (pglite)', () => {
  let t: TestStore;
  const logger = pino({ level: 'silent' });
  beforeEach(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
  });
  afterEach(async () => {
    await t.close();
  });

  it('records each finding once at its own time, survives a lost position without recording twice, and the read model rebuilds the same', async () => {
    await t.store.append('model-m1', [event('ModelRegistered', { modelId: 'm1', trainedOn: [snapshotRef], validatedOn: [] }, T0)], { expectedVersion: 'any' });
    await t.store.append('model-m1', [event('ModelEvaluated', { evaluationId: 'e1', modelId: 'm1', testSnapshot: snapshotRef, flagged: [gap] }, T0 + 60_000)], { expectedVersion: 'any' });
    await t.store.append('model-m1', [event('ModelEvaluated', { evaluationId: 'e2', modelId: 'm1', testSnapshot: snapshotRef, flagged: [] }, T0 + 120_000)], { expectedVersion: 'any' });
    const runner = new SentinelRunner(t.db, t.store, logger);
    await runner.catchUp();
    expect(runner.findingCounts).toEqual({ recorded: 1, alreadyRecorded: 0 });
    expect(runner.counts).toEqual({ recorded: 0, alreadyRecorded: 0 });
    const raised = (await t.store.readAll(0, 10_000)).filter((e) => e.type === 'FindingRaised');
    expect(raised).toHaveLength(1);
    expect(raised[0]?.occurredAt).toBe(new Date(T0 + 60_000).toISOString());
    expect(raised[0]?.streamId).toMatch(/^finding-fnd-[0-9a-f]{24}$/);
    expect(raised[0]?.metadata.actor.id).toBe('custos-sentinel');

    await t.db.execute('DELETE FROM custos_sentinel_position');
    const again = new SentinelRunner(t.db, t.store, logger);
    await again.catchUp();
    expect(again.findingCounts).toEqual({ recorded: 0, alreadyRecorded: 1 });
    expect((await t.store.readAll(0, 10_000)).filter((e) => e.type === 'FindingRaised')).toHaveLength(1);

    const project = async (name: string) => {
      const runner = new ProjectionRunner(t.db, [new FindingsProjection()], name);
      await runner.applyBatch(await t.store.readAll(0, 10_000));
    };
    await project('findings-live');
    const before = await snapshotTables(t.db, ['custos_rm_findings']);
    expect(before.custos_rm_findings).toHaveLength(1);
    await t.db.execute('DELETE FROM custos_rm_findings');
    await project('findings-replay');
    expect(await snapshotTables(t.db, ['custos_rm_findings'])).toEqual(before);
  });

  it('a group-agreement finding names its reviewers among its actors (read from the log by the evidence refs; a ref whose id does not match is not trusted)', async () => {
    const reviewed = async (annotationId: string, reviewer: string, at: number) => {
      const [e] = (await t.store.append(`annotation-${annotationId}`, [event('AnnotationReviewed', { annotationId, verdict: 'approved' }, at, reviewer)], { expectedVersion: 'any' })).events;
      return { eventId: e?.eventId as string, sequence: e?.globalSeq as number, hash: e?.hash as string };
    };
    const r1 = await reviewed('a1', 'rev-1', T0);
    const r2 = await reviewed('a2', 'rev-2', T0 + 1000);
    const r3 = await reviewed('a3', 'rev-3', T0 + 2000);
    const forged = { ...r3, eventId: '00000000-0000-4000-8000-000000000000' };
    const measured = { datasetId: 'ds-1', dimension: 'sex', group: 'female', kappa: 0.1, images: 12, window: 12, minKappa: 0.6, state: 'below', reviews: [forged, r2, r1] };
    await t.store.append('agreement-ds-1', [event('GroupAgreementMeasured', measured, T0 + 3000, 'rev-2')], { expectedVersion: 'any' });
    const runner = new SentinelRunner(t.db, t.store, logger);
    await runner.catchUp();
    const raised = (await t.store.readAll(0, 10_000)).filter((e) => e.type === 'FindingRaised');
    expect(raised).toHaveLength(1);
    expect((raised[0]?.data as { actors: string[] }).actors).toEqual(['rev-2', 'rev-1']);
  });
});
