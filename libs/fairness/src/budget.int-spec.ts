import { CustosError } from '@custos/errors';
import { type CommandContext, EventStore1764000000000, StreamChain1764000010000 } from '@custos/event-store';
import { openTestStore, type StoreKind, type TestStore } from '@custos/testing';
import { budgetShell, privacyCodec } from './balance.handlers.js';
import { releaseParts } from './domain/balance.js';
import { budgetDecider } from './domain/budget.decide.js';
import { type BalanceReleasedData, privacyStreamId } from './domain/privacy.events.js';

const clock = { now: () => new Date('2026-06-01T08:00:00.000Z') };
const ctx = (who: string): CommandContext => ({ actor: { id: who, roles: ['data-steward'] }, correlationId: `corr-${who}` });
const release = (datasetId: string, requester: string, n: number, epsilonMicros: number, caps: { perRequester: number; perDataset: number }): BalanceReleasedData => ({
  releaseId: `${datasetId}-${requester}-${n}`,
  datasetId,
  requester,
  query: { by: ['sex'], epsilon: String(epsilonMicros / 1e6) },
  epsilonMicros,
  mechanism: 'discrete-laplace',
  parts: releaseParts(epsilonMicros, { images: 20, annotations: 20 }),
  groups: { sex: ['female', 'male', 'other', 'unknown'] },
  labels: [],
  cells: [{ group: { sex: 'female' }, patients: 3, images: 4, annotations: {} }],
  asOfSequence: 0,
  referenceVersion: null,
  flagged: [],
  caps,
});

/** The ledger folded from the whole log (a replay), not from the stream read the shell did. */
async function replayed(t: TestStore, datasetId: string) {
  const events = [];
  for (let from = 0; ; ) {
    const page = await t.store.readAll(from, 1000);
    if (page.length === 0) break;
    events.push(...page.filter((e) => e.streamId === privacyStreamId(datasetId)));
    from = (page[page.length - 1] as { globalSeq: number }).globalSeq + 1;
  }
  return events.map((e) => privacyCodec.decode(e)).reduce(budgetDecider.evolve, budgetDecider.initialState);
}

describe.each<StoreKind>(['pglite', 'postgres'])('privacy budgets under a race (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind, [EventStore1764000000000, StreamChain1764000010000]);
  });
  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['the dataset cap, 50 requesters', 'ds-a', (i: number) => `r-${i}`, { perRequester: 1_000_000, perDataset: 700_000 }, 7],
    ['one requester cap, 50 requests', 'ds-b', () => 'r-same', { perRequester: 300_000, perDataset: 4_000_000 }, 3],
  ])('%s racing at 0.1 each: exactly k recorded, the rest refused, the ledger at the cap and equal to its replay', async (_name, datasetId, who, caps, k) => {
    const shell = budgetShell(t.store, clock);
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        try {
          await shell.handle(privacyStreamId(datasetId), { type: 'Release', release: release(datasetId, who(i), i, 100_000, caps) }, ctx(who(i)));
          return 'recorded';
        } catch (e) {
          return e instanceof CustosError ? e.code : String(e);
        }
      }),
    );
    expect(outcomes.filter((o) => o === 'recorded').length).toBe(k);
    expect(outcomes.filter((o) => o === 'privacy-budget-exhausted').length).toBe(50 - k);
    const stream = await t.store.readStream(privacyStreamId(datasetId));
    const ledger = stream.map((e) => privacyCodec.decode(e)).reduce(budgetDecider.evolve, budgetDecider.initialState);
    expect(ledger.spent).toBe(k * 100_000);
    expect(ledger.spent).toBeLessThanOrEqual(caps.perDataset);
    expect(Math.max(...Object.values(ledger.spentBy))).toBeLessThanOrEqual(caps.perRequester);
    expect(ledger.spent).toBe(stream.reduce((s, e) => s + privacyCodec.decode(e).data.epsilonMicros, 0));
    expect(await replayed(t, datasetId)).toEqual(ledger);
  }, 60_000);
});
