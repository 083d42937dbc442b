import { Database, EventStore } from '@custos/event-store';
import { allProjections } from '@custos/contexts';
import { createProjectionRunner, EmbeddedProjections } from '@custos/runtime';
import { snapshotTables, principals } from '@custos/testing';
import request from 'supertest';
import { bootEmbedded, IMAGE, tokenFor, waitForProjection } from './helpers.js';

describe('replay of every read model equals live projection (all contexts)', () => {
  it('rebuilds trails, reviews, dataset withdrawals and the catalogue to the same bytes', async () => {
    const app = await bootEmbedded();
    try {
      const t = {
        steward: await tokenFor(app, principals.steward()),
        dr: await tokenFor(app, principals.clinician()),
        res: await tokenFor(app, principals.researcher()),
        sec: await tokenFor(app, principals.securityOfficer({ sub: 'sec-1' })),
        p1: await tokenFor(app, principals.patient()),
        p2: await tokenFor(app, principals.patient({ sub: 'pat-2', patientId: 'p2' })),
      };
      const http = () => request(app.getHttpServer());
      for (const [img, patient] of [['img-1', 'p1'], ['img-2', 'p2'], ['img-3', 'p1']] as const) {
        await http().post('/v1/images').set('authorization', `Bearer ${t.steward}`).send(IMAGE(img, patient)).expect(201);
      }
      await http().put('/v1/patients/p1/consents/AI_TRAINING').set('authorization', `Bearer ${t.p1}`).send({ status: 'granted' }).expect(200);
      const asks = [
        [t.dr, { resourceType: 'image', resourceId: 'img-1', action: 'view', purpose: 'TREATMENT' }],
        [t.res, { resourceType: 'image', resourceId: 'img-3', action: 'download', purpose: 'AI_TRAINING' }],
        [t.res, { resourceType: 'image', resourceId: 'img-2', action: 'download', purpose: 'AI_TRAINING' }],
        [t.dr, { resourceType: 'image', resourceId: 'img-2', action: 'view', purpose: 'RESEARCH', emergency: { reason: 'stroke alert, prior MR needed now' } }],
        [t.dr, { resourceType: 'image', resourceId: 'img-9', action: 'view', purpose: 'TREATMENT' }],
      ] as const;
      let emergencyId = '';
      for (const [token, body] of asks) {
        const r = await http().post('/v1/access-requests').set('authorization', `Bearer ${token}`).send(body);
        if (r.body.emergency) emergencyId = r.body.eventId;
      }
      await http().post(`/v1/reviews/emergency-access/${emergencyId}`).set('authorization', `Bearer ${t.sec}`).send({ verdict: 'justified', note: 'confirmed' }).expect(200);
      await http().delete('/v1/patients/p1/consents/AI_TRAINING').set('authorization', `Bearer ${t.p1}`).expect(200);
      await http().get('/v1/patients/p1/access-trail').set('authorization', `Bearer ${t.p2}`).expect(403);

      const store = app.get(EventStore);
      const { lastSeq } = await store.head();
      await waitForProjection(app, t.sec, 'p1', lastSeq);
      await app.get(EmbeddedProjections).onApplicationShutdown(); // stop the live feed, as an operator would
      // The wait itself read the trail, and that read is an event: project what the feed had
      // not reached when it stopped (exactly once by global sequence), so live covers the log.
      const db = app.get(Database);
      await createProjectionRunner(db, allProjections()).applyBatch(await store.readAll(0));
      const tables = allProjections().flatMap((p) => p.tables);
      const live = await snapshotTables(db, tables);
      expect((live.custos_rm_access_trail ?? []).length).toBeGreaterThanOrEqual(6);
      expect(live.custos_rm_emergency_reviews).toHaveLength(1);
      expect(live.custos_rm_ai_training_withdrawals).toHaveLength(1);

      await createProjectionRunner(db, allProjections()).replay(store);
      expect(JSON.stringify(await snapshotTables(db, tables))).toBe(JSON.stringify(live));
    } finally {
      await app.close();
    }
  });
});
