import type { INestApplication } from '@nestjs/common';
import { EventStore } from '@custos/event-store';
import request from 'supertest';
import { bootEmbedded, devToken } from './helpers.js';

/**
 * Fairness findings end to end (embedded: the gateway hosts the sentinel). The model and
 * balance routes belong to other slices: their events are appended here through the app's
 * store, as those routes would record them, and the sentinel finds them in the log.
 */
describe('findings over HTTP (embedded)', () => {
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  let steward: string;
  let steward2: string;
  let regulator: string;
  let security: string;
  let researcher: string;
  let patient: string;

  const actor = { id: 'dev-1', roles: ['model-developer'] };
  const gap = { dimension: 'sex', metric: 'sensitivity', gap: 0.12, groups: ['male', 'female'] };
  const snapshot = (datasetId: string, snapshotId: string) => ({ datasetId, snapshotId, rootHash: 'ab'.repeat(32), treeSize: 3, purpose: 'AI_TRAINING' });

  async function append(streamId: string, type: string, data: Record<string, unknown>, by: { id: string; roles: string[] } = actor) {
    const result = await app.get(EventStore).append(streamId, [{ type, schemaVersion: 1, data, metadata: { actor: by, correlationId: `test-${streamId}` }, occurredAt: new Date() }], { expectedVersion: 'any' });
    return result.events[0];
  }

  const evaluate = (modelId: string, evaluationId: string, flagged: unknown[]) =>
    append(`model-${modelId}`, 'ModelEvaluated', { evaluationId, modelId, testSnapshot: snapshot('ds-eval', `t-${evaluationId}`), groups: [], gaps: [gap], flagged, tooSmall: [], thresholds: { maxGap: 0.05, minGroupSize: 30 }, by: 'dev-1' });

  async function findings(query: string, atLeast: number): Promise<{ items: Array<Record<string, unknown>>; total: number; nextCursor: string | null }> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const res = await http().get(`/v1/findings?${query}`).set(bearer(steward)).expect(200);
      if (res.body.total >= atLeast) return res.body;
      if (Date.now() > deadline) throw new Error(`fewer than ${atLeast} findings for ${query}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    app = await bootEmbedded({ SENTINEL_POLL_MS: '20' });
    steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    steward2 = await devToken(app, { sub: 'stew-2', roles: ['data-steward'] });
    regulator = await devToken(app, { sub: 'reg-1', roles: ['regulator'] });
    security = await devToken(app, { sub: 'so-1', roles: ['security-officer'] });
    researcher = await devToken(app, { sub: 'res-1', roles: ['researcher'] });
    patient = await devToken(app, { sub: 'pat-1', roles: ['patient'], patient_id: 'p1' });
  });
  afterAll(async () => {
    await app.close();
  });

  let findingId: string;

  it('an evaluation with a flagged gap becomes a finding naming its evidence; one without a flagged gap does not', async () => {
    await append('model-m-ok', 'ModelEvaluated', { evaluationId: 'ev-ok', modelId: 'm-ok', testSnapshot: snapshot('ds-eval', 't-ok'), groups: [], gaps: [gap], flagged: [], tooSmall: [], thresholds: { maxGap: 0.2, minGroupSize: 30 }, by: 'dev-1' });
    const ev = await evaluate('m-1', 'ev-1', [gap]);
    const page = await findings('rule=evaluation-gap', 1);
    expect(page.items).toHaveLength(1);
    const [f] = page.items as [Record<string, unknown>];
    expect(f).toMatchObject({ rule: 'evaluation-gap', state: 'open', modelId: 'm-1', datasetId: 'ds-eval', evidenceCount: 1, facts: { evaluationId: 'ev-1', flagged: [gap] } });
    findingId = f.findingId as string;
    const got = (await http().get(`/v1/findings/${findingId}`).set(bearer(steward)).expect(200)).body;
    expect(got.evidence).toEqual([{ eventId: ev?.eventId, sequence: ev?.globalSeq, hash: ev?.hash }]);
    expect(got).toMatchObject({ findingId, state: 'open', history: [], version: 1 });
    expect((await findings('modelId=m-ok', 0)).total).toBe(0);
  });

  it('a snapshot taken while a balance release flags a group becomes a finding; a release that flags nothing does not clear it, one that clears the group does', async () => {
    const stewardActor = { id: 'stew-1', roles: ['data-steward'] };
    const flagged = [{ kind: 'representation', dimension: 'ethnicity', group: 'black', interval: [0.3, 0.7] }];
    const a = await append('privacy-ds-flag', 'BalanceReleased', { releaseId: 'rel-1', datasetId: 'ds-flag', requester: 'res-1', flagged, cleared: [], referenceVersion: 1, cells: [] }, { id: 'res-1', roles: ['researcher'] });
    await append('snapshot-snap-1', 'DatasetSnapshotted', { snapshotId: 'snap-1', datasetId: 'ds-flag', entries: [] }, stewardActor);
    const page = await findings('datasetId=ds-flag', 1);
    expect(page.items[0]).toMatchObject({ rule: 'snapshot-while-flagged', datasetId: 'ds-flag', evidenceCount: 2, facts: { snapshotId: 'snap-1', releaseId: 'rel-1' } });
    const flaggedId = page.items[0]?.findingId as string;
    expect((await http().get(`/v1/findings/${flaggedId}`).set(bearer(steward)).expect(200)).body.actors).toEqual(['stew-1', 'res-1']);

    // Separation of duties: the steward who took the snapshot cannot acknowledge it; another steward can.
    const own = await http().post(`/v1/findings/${flaggedId}/transitions`).set(bearer(steward)).send({ to: 'acknowledged', note: 'fine' }).expect(403);
    expect(own.body).toMatchObject({ code: 'separation-of-duties' });
    expect(own.headers['content-type']).toMatch(/application\/problem\+json/);
    await http().post(`/v1/findings/${flaggedId}/transitions`).set(bearer(steward2)).send({ to: 'acknowledged', note: 'asked for a rebalanced snapshot' }).expect(200);

    // A release too noisy to say (nothing flagged, nothing cleared) leaves the flag: the next snapshot is found, citing rel-1.
    await append('privacy-ds-flag', 'BalanceReleased', { releaseId: 'rel-2', datasetId: 'ds-flag', requester: 'res-1', flagged: [], cleared: [], referenceVersion: 1, cells: [] });
    const s2 = await append('snapshot-snap-2', 'DatasetSnapshotted', { snapshotId: 'snap-2', datasetId: 'ds-flag', entries: [] }, stewardActor);
    const second = (await findings('datasetId=ds-flag', 2)).items[0] as Record<string, unknown>;
    expect(second).toMatchObject({ facts: { snapshotId: 'snap-2', releaseId: 'rel-1' } });
    const got = (await http().get(`/v1/findings/${second.findingId as string}`).set(bearer(steward)).expect(200)).body;
    expect(got.evidence.map((e: { eventId: string }) => e.eventId)).toEqual([a?.eventId, s2?.eventId]);

    // A release whose interval for the group lies wholly at or above the minimum clears it: no further finding.
    await append('privacy-ds-flag', 'BalanceReleased', { releaseId: 'rel-3', datasetId: 'ds-flag', requester: 'res-1', flagged: [], cleared: [{ ...flagged[0], interval: [0.85, 1.2] }], referenceVersion: 1, cells: [] });
    await append('snapshot-snap-3', 'DatasetSnapshotted', { snapshotId: 'snap-3', datasetId: 'ds-flag', entries: [] }, stewardActor);
    // The sentinel works in log order: once a later finding (another dataset) is raised, snap-3 has been judged.
    await append('privacy-ds-marker', 'BalanceReleased', { releaseId: 'rel-m', datasetId: 'ds-marker', requester: 'res-1', flagged, cleared: [], referenceVersion: 1, cells: [] });
    await append('snapshot-snap-m', 'DatasetSnapshotted', { snapshotId: 'snap-m', datasetId: 'ds-marker', entries: [] });
    await findings('datasetId=ds-marker', 1);
    expect((await findings('datasetId=ds-flag', 2)).total).toBe(2);
  });

  it('a model whose snapshot lost more than the allowed share of its patients\' AI_TRAINING consent becomes one finding, naming no patient', async () => {
    const patients = Array.from({ length: 5 }, (_, i) => `cl-p${i}`);
    for (const [i, p] of patients.entries()) {
      await append(`image-cl-i${i}`, 'ImageRegistered', { imageId: `cl-i${i}`, patientId: p, modality: 'CT', bodySite: 'CHEST', datasetId: 'ds-cl', demographics: { sex: 'female', birthYear: 1970, ethnicity: 'white' } });
    }
    await append('snapshot-cl-s1', 'DatasetSnapshotted', { snapshotId: 'cl-s1', datasetId: 'ds-cl', entries: patients.map((_, i) => ({ annotationId: `cl-a${i}`, version: 1, imageId: `cl-i${i}`, label: 'nodule' })) });
    await append('model-m-cl', 'ModelRegistered', { modelId: 'm-cl', name: 'cl', version: '1', trainedOn: [snapshot('ds-cl', 'cl-s1')], validatedOn: [], developer: 'dev-1' });
    // 1 of 5 = 20% > 10%: found; the second withdrawal raises nothing more while it stands.
    await append('consent-cl-p0', 'ConsentWithdrawn', { patientId: 'cl-p0', purpose: 'AI_TRAINING', channel: 'patient-portal' });
    await append('consent-cl-p1', 'ConsentChanged', { patientId: 'cl-p1', purpose: 'AI_TRAINING', status: 'denied', categories: [], expiresAt: null, recipients: [], channel: 'patient-portal' });
    const page = await findings('rule=consent-loss', 1);
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ modelId: 'm-cl', facts: { patients: 5, withdrawn: 1, share: 0.2 } });
    const got = (await http().get(`/v1/findings/${page.items[0]?.findingId as string}`).set(bearer(steward)).expect(200)).body;
    expect(JSON.stringify(got)).not.toMatch(/cl-p\d/);
    await new Promise((r) => setTimeout(r, 300));
    expect((await http().get('/v1/findings?rule=consent-loss').set(bearer(steward)).expect(200)).body.total).toBe(1);
  });

  it('lists newest first with filters, cursor paging and totals', async () => {
    for (let i = 2; i <= 5; i++) await evaluate(`m-${i}`, `ev-${i}`, [gap]);
    const all = await findings('rule=evaluation-gap', 5);
    expect(all.total).toBe(5);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await http().get(`/v1/findings?rule=evaluation-gap&limit=2${cursor ? `&cursor=${cursor}` : ''}`).set(bearer(steward)).expect(200);
      expect(res.body.total).toBe(5);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((i: { findingId: string }) => i.findingId));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.items.map((i) => i.findingId));
    expect(new Set(seen).size).toBe(5);
    expect((await http().get('/v1/findings?modelId=m-3').set(bearer(regulator)).expect(200)).body).toMatchObject({ total: 1, items: [{ modelId: 'm-3' }] });
    expect((await http().get('/v1/findings?state=resolved').set(bearer(steward)).expect(200)).body.total).toBe(0);
    expect((await http().get('/v1/findings?rule=group-agreement').set(bearer(steward)).expect(200)).body).toEqual({ items: [], total: 0, nextCursor: null });
  });

  it('moves a finding open → acknowledged → resolved → open with notes; refuses illegal steps (409 naming the allowed) and a missing note (400)', async () => {
    const move = (to: unknown, note?: unknown) => http().post(`/v1/findings/${findingId}/transitions`).set(bearer(steward)).send(note === undefined ? { to } : { to, note });
    const illegal = await move('resolved', 'skip ahead').expect(409);
    expect(illegal.body).toMatchObject({ code: 'illegal-transition' });
    expect(JSON.stringify(illegal.body)).toContain('acknowledged');
    expect((await move('acknowledged').expect(400)).body.code).toBe('note-required');
    expect((await move('acknowledged', '   ').expect(400)).body.code).toBe('note-required');
    expect((await move('acknowledged', '\u200b').expect(400)).body.code).toBe('note-required');
    expect((await move('acknowledged', 'n'.repeat(4001)).expect(400)).body.code).toBe('note-too-long');
    expect((await move('acknowledged', null).expect(400)).body.code).toBe('note-required');
    expect((await move('acknowledged', 'retraining with more female cases').expect(200)).body).toMatchObject({ findingId, state: 'acknowledged', version: 2 });
    await move('acknowledged', 'again').expect(409);
    await move('resolved', 'v2 evaluated within the gap').expect(200);
    await move('open', 'the gap is back in production').expect(200);
    const got = (await http().get(`/v1/findings/${findingId}`).set(bearer(regulator)).expect(200)).body;
    expect(got.state).toBe('open');
    expect(got.history.map((h: { from: string; to: string; by: string }) => `${h.from}>${h.to} ${h.by}`)).toEqual(['open>acknowledged stew-1', 'acknowledged>resolved stew-1', 'resolved>open stew-1']);
    // Three stewards at once on a second finding: each answer is 200 or 409, and the recorded steps form one chain.
    const other = (await http().get('/v1/findings?modelId=m-2').set(bearer(steward)).expect(200)).body.items[0].findingId as string;
    const raced = await Promise.all(['acknowledged', 'acknowledged', 'acknowledged'].map((to, i) => http().post(`/v1/findings/${other}/transitions`).set(bearer(steward)).send({ to, note: `steward ${i}` })));
    expect(raced.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    expect((await http().get(`/v1/findings/${other}`).set(bearer(steward)).expect(200)).body.history).toHaveLength(1);
    const deadline = Date.now() + 10_000;
    while ((await http().get('/v1/findings?state=open&modelId=m-1').set(bearer(steward)).expect(200)).body.total !== 1 || (await http().get('/v1/findings?state=acknowledged&modelId=m-1').set(bearer(steward))).body.total !== 0) {
      if (Date.now() > deadline) throw new Error('read model did not follow the transitions');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('authorizes stewards to work findings, regulators to read them; the security officer, researchers and patients cannot (refusals recorded); reads are recorded', async () => {
    for (const token of [security, researcher, patient]) {
      await http().get('/v1/findings').set(bearer(token)).expect(403);
      await http().get(`/v1/findings/${findingId}`).set(bearer(token)).expect(403);
      await http().post(`/v1/findings/${findingId}/transitions`).set(bearer(token)).send({ to: 'acknowledged', note: 'not mine to do' }).expect(403);
    }
    await http().post(`/v1/findings/${findingId}/transitions`).set(bearer(regulator)).send({ to: 'acknowledged', note: 'not mine to do' }).expect(403);
    await http().get('/v1/findings').expect(401);
    const events = await app.get(EventStore).readAll(0, 100_000);
    expect(events.filter((e) => e.type === 'RouteAccessDenied' && e.metadata.actor.id === 'so-1').length).toBe(3);
    expect(events.some((e) => e.type === 'AuditDataRead' && (e.data as { resourceType: string }).resourceType === 'findings' && e.metadata.actor.id === 'reg-1')).toBe(true);
    expect(events.filter((e) => e.type === 'FindingTransitioned').map((e) => e.metadata.actor.id)).toEqual(['stew-2', 'stew-1', 'stew-1', 'stew-1', 'stew-1']);
  });

  it('answers hostile input with 4xx problems, never 500', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['get', '/v1/findings/not-an-id', undefined, 400],
      ['get', `/v1/findings/fnd-${'0'.repeat(24)}`, undefined, 404],
      ['get', '/v1/findings?cursor=%%%', undefined, 400],
      ['get', `/v1/findings?cursor=${Buffer.from('["not a date","x"]').toString('base64url')}`, undefined, 400],
      ['get', '/v1/findings?limit=-1', undefined, 400],
      ['get', '/v1/findings?limit=100000000000000000000', undefined, 400],
      ['get', '/v1/findings?state=PWNED', undefined, 400],
      ['get', '/v1/findings?rule=volume-spike', undefined, 400],
      ['get', '/v1/findings?datasetId=a%20b', undefined, 400],
      ['get', '/v1/findings?modelId[]=a', undefined, 400],
      ['post', `/v1/findings/fnd-${'0'.repeat(24)}/transitions`, { to: 'acknowledged', note: 'n' }, 404],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, { to: 'closed', note: 'n' }, 400],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, { to: null, note: 'n' }, 400],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, { to: ['acknowledged'], note: 'n' }, 400],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, { to: 'acknowledged', note: null }, 400],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, { to: 'acknowledged', note: ['n'] }, 400],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, { to: 'acknowledged', note: { text: 'n' } }, 400],
      ['post', `/v1/findings/${'__FINDING__'}/transitions`, [{ to: 'acknowledged', note: 'n' }], 400],
    ];
    for (const [method, raw, body, status] of cases) {
      const url = raw.replace('__FINDING__', findingId);
      const req = method === 'get' ? http().get(url) : http().post(url).send(body as object);
      const res = await req.set(bearer(steward));
      expect([url, res.status]).toEqual([url, status]);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    // Nothing hostile moved the finding.
    expect((await http().get(`/v1/findings/${findingId}`).set(bearer(steward)).expect(200)).body.state).toBe('open');
  });
});
