import { BatchJoiner } from './kafka-event-feed.js';

describe('BatchJoiner (the projector feed joins the partitions of one fetch)', () => {
  it('given batches submitted in the same turn, when they flush, then one handler call gets them all, in submission order', async () => {
    const calls: number[][] = [];
    const joiner = new BatchJoiner<number>(async (items) => void calls.push(items), 100);
    await Promise.all([joiner.submit([1, 2]), joiner.submit([3]), joiner.submit([4, 5])]);
    expect(calls).toEqual([[1, 2, 3, 4, 5]]);
  });

  it('given batches arriving while a call runs, then they join the next call, within the size bound (a batch is never split)', async () => {
    const calls: number[][] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const joiner = new BatchJoiner<number>(async (items) => {
      calls.push(items);
      if (calls.length === 1) await gate;
    }, 3);
    const first = joiner.submit([1]);
    await new Promise((r) => setImmediate(r));
    const later = [joiner.submit([2, 3]), joiner.submit([4]), joiner.submit([5, 6, 7, 8])];
    release();
    await Promise.all([first, ...later]);
    expect(calls).toEqual([[1], [2, 3, 4], [5, 6, 7, 8]]);
  });

  it('given a failing call, then every batch of that call fails and later ones still run', async () => {
    let fail = true;
    const seen: number[][] = [];
    const joiner = new BatchJoiner<number>(async (items) => {
      seen.push(items);
      if (fail) throw new Error('database down');
    }, 10);
    const results = await Promise.allSettled([joiner.submit([1]), joiner.submit([2])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(joiner.submit([3])).resolves.toBeUndefined();
    expect(seen).toEqual([[1, 2], [3]]);
  });
});
