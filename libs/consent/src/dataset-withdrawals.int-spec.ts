import { EventStore } from '@custos/event-store';
import { IMAGE_PERSONAL, imageShell, imageStreamId } from '@custos/imaging';
import { KeyService, openKek, PayloadCipher } from '@custos/keys';
import { SystemClock } from '@custos/platform';
import { ProjectionRunner } from '@custos/projections';
import { commandContextOf, image, openTestStore, principals, type TestImage, type TestStore } from '@custos/testing';
import { RecordConsentCommand, RecordConsentHandler } from './consent.handlers.js';
import { ConsentReader } from './consent-reader.js';
import { ConsentReceipts } from './consent.receipts.js';
import { STANDARD_RULES } from './domain/consent.decide.js';
import { CONSENT_PERSONAL } from './domain/consent.events.js';
import { DatasetWithdrawalsProjection, datasetWithdrawals } from './dataset-withdrawals.repository.js';
import { ReceiptSigner } from './receipts.js';
import { ALL_MIGRATIONS } from '@custos/contexts';

/**
 * Consent below HTTP: changes and withdrawals through the handlers (receipts signed, the
 * paper form's reference sealed), then projected with the images into the dataset-withdrawals
 * view: whose AI_TRAINING consent went after their images entered a dataset.
 */
describe('consent handlers and the dataset-withdrawals projection (PGlite)', () => {
  let t: TestStore;
  let store: EventStore;
  let record: RecordConsentHandler;
  const clock = new SystemClock();
  const steward = principals.steward();

  beforeEach(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
    const keys = new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined));
    store = new EventStore(t.db, { sealer: new PayloadCipher(keys, { ...CONSENT_PERSONAL, ...IMAGE_PERSONAL }) });
    const receipts = new ConsentReceipts(await ReceiptSigner.open(keys), 'urn:custos:test');
    const reader = new ConsentReader(store, STANDARD_RULES);
    record = new RecordConsentHandler(store, clock, receipts, STANDARD_RULES, reader);
  });
  afterEach(() => t.close());

  const register = (img: TestImage) => imageShell(store, clock).handle(imageStreamId(img.imageId), { type: 'RegisterImage', image: img }, commandContextOf(steward), { patientId: img.patientId });

  it('lists the patients whose AI_TRAINING consent was withdrawn or denied after their images entered, and no one else', async () => {
    const p1 = principals.patient();
    const p2 = principals.patient({ sub: 'pat-2', patientId: 'p2' });
    const p3 = principals.patient({ sub: 'pat-3', patientId: 'p3' });
    await register(image({ imageId: 'img-1', patientId: 'p1' }));
    await register(image({ imageId: 'img-2', patientId: 'p2' }));
    await register(image({ imageId: 'img-9', patientId: 'p2', datasetId: 'ds-other' }));

    const granted = await record.execute(new RecordConsentCommand({ type: 'ChangeConsent', patientId: 'p1', purpose: 'AI_TRAINING', status: 'granted', channel: 'patient-portal' }, undefined, p1, commandContextOf(p1)));
    expect(granted).toMatchObject({ version: 1, receipt: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) as unknown });
    expect(await record.execute(new RecordConsentCommand({ type: 'WithdrawConsent', patientId: 'p1', purpose: 'AI_TRAINING', channel: 'patient-portal' }, 1, p1, commandContextOf(p1)))).toMatchObject({ version: 2 });
    // p2 refuses on paper: recorded by the steward, the form's reference sealed in the log
    const paper = { patientId: 'p2', purpose: 'AI_TRAINING', status: 'denied', channel: 'paper', capturedBy: 'nurse-4', evidenceRef: 'form-2026-0042' } as const;
    await record.execute(new RecordConsentCommand({ type: 'ChangeConsent', ...paper }, undefined, steward, commandContextOf(steward)));
    // p3 refused before any image of theirs entered: nothing a model could have learned
    await record.execute(new RecordConsentCommand({ type: 'ChangeConsent', patientId: 'p3', purpose: 'AI_TRAINING', status: 'denied', channel: 'patient-portal' }, undefined, p3, commandContextOf(p3)));
    await register(image({ imageId: 'img-3', patientId: 'p3' }));
    // and a denial of another purpose is no AI_TRAINING withdrawal
    await record.execute(new RecordConsentCommand({ type: 'ChangeConsent', patientId: 'p2', purpose: 'RESEARCH', status: 'denied', channel: 'patient-portal' }, undefined, p2, commandContextOf(p2)));

    const log = await store.readAll(0);
    expect(log.find((e) => e.type === 'ConsentChanged' && e.metadata.actor.id === 'stew-1')?.data).toMatchObject({ sealed: expect.any(String) as unknown });
    const runner = new ProjectionRunner(t.db, [new DatasetWithdrawalsProjection()]);
    await runner.applyBatch(log);
    expect(await runner.faults()).toEqual([]);

    const seqOf = (type: string, patientId: string) => log.filter((e) => e.type === type && e.metadata.patientId === patientId).map((e) => e.globalSeq);
    expect(await datasetWithdrawals(t.db, 'ds-1')).toEqual([
      { patientId: 'p1', images: ['img-1'], withdrawnAt: expect.any(String) as unknown, withdrawnSequence: seqOf('ConsentWithdrawn', 'p1')[0] },
      { patientId: 'p2', images: ['img-2'], withdrawnAt: expect.any(String) as unknown, withdrawnSequence: seqOf('ConsentChanged', 'p2')[0] },
    ]);
    expect(await datasetWithdrawals(t.db, 'ds-other')).toMatchObject([{ patientId: 'p2', images: ['img-9'] }]);
  });
});
