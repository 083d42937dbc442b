import { canonicalJson, type CommittedEvent, type Json, type StoredEvent } from '@custos/event-store';
import { leafHash } from '@custos/merkle';
import fc from 'fast-check';
import { LeafFeed, leafHashOf, leafInput, leafText } from './tree.js';

const anyText = fc.string({ unit: 'binary', maxLength: 40 }); // lone surrogates, quotes, controls
const event = fc.record({
  eventId: fc.oneof(fc.uuid(), anyText),
  streamId: fc.oneof(fc.constant('access-p1'), anyText),
  version: fc.nat(),
  globalSeq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  type: fc.oneof(fc.constant('AccessDecided'), anyText),
  schemaVersion: fc.integer({ min: 1, max: 9 }),
  data: fc.jsonValue(),
  metadata: fc.record({ actor: fc.record({ id: anyText, roles: fc.array(anyText, { maxLength: 2 }) }), correlationId: anyText, note: fc.oneof(anyText, fc.constant('Zoë 😀 \u2028')) }),
  occurredAt: fc.oneof(fc.constant(new Date(0).toISOString()), anyText),
  prevHash: fc.oneof(fc.constant('a'.repeat(64)), anyText),
  streamPrevHash: fc.option(fc.oneof(fc.constant('b'.repeat(64)), anyText), { nil: undefined }),
  hash: fc.oneof(fc.constant('c'.repeat(64)), anyText),
});

describe('the leaf input, made three ways', () => {
  it('is the same bytes from the generic canonical JSON, the text and the buffer written in place, whatever the fields hold', () => {
    fc.assert(
      fc.property(event, (raw) => {
        const e = raw as unknown as StoredEvent;
        const generic = Buffer.from(canonicalJson(JSON.parse(JSON.stringify(e)) as Json), 'utf8');
        const data = canonicalJson(e.data as Json);
        const metadata = canonicalJson(e.metadata as unknown as Json);
        expect(leafInput(e).equals(generic)).toBe(true);
        expect(Buffer.from(leafText(e, data, metadata), 'utf8').equals(generic)).toBe(true);
        expect(leafHashOf(e, data, metadata).equals(leafHash(generic))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is hashed correctly for data far larger than the reused buffer', () => {
    const e = { eventId: 'x', streamId: 's', version: 1, globalSeq: 0, type: 'T', schemaVersion: 1, data: { big: 'é'.repeat(100_000) }, metadata: {}, occurredAt: 'now', prevHash: 'p', hash: 'h' } as unknown as StoredEvent;
    expect(leafHashOf(e, canonicalJson(e.data as Json), '{}').equals(leafHash(leafInput(e)))).toBe(true);
  });
});

describe('the leaf feed', () => {
  const committed = (seq: number): CommittedEvent => {
    const event = { eventId: `e${seq}`, streamId: 's', version: seq + 1, globalSeq: seq, type: 'T', schemaVersion: 1, data: { seq }, metadata: {}, occurredAt: 'now', prevHash: 'p', hash: 'h' } as unknown as StoredEvent;
    return { event, canonicalData: canonicalJson({ seq }), canonicalMetadata: '{}' };
  };
  const group = (from: number, n: number) => Array.from({ length: n }, (_, i) => committed(from + i));
  const expected = (seq: number) => leafHash(leafInput(committed(seq).event));

  it('gives leaves contiguous from the position asked, across groups, and forgets what lies below', () => {
    const feed = new LeafFeed();
    feed.push(group(0, 3));
    feed.push(group(3, 4));
    feed.push(group(9, 2)); // 7 and 8 came from another process
    expect(feed.size).toBe(9);
    expect(feed.takeLeaves(1, 5)).toEqual([1, 2, 3, 4].map(expected)); // 0 forgotten
    expect(feed.size).toBe(4);
    expect(feed.takeLeaves(5, 100)).toEqual([5, 6].map(expected)); // stops at the gap
    expect(feed.takeLeaves(7, 100)).toEqual([]);
    expect(feed.takeLeaves(9, 100)).toEqual([9, 10].map(expected));
    expect(feed.size).toBe(0);
  });

  it('gives leaves again after a round that took them rolled back, and counts them once', () => {
    const feed = new LeafFeed();
    feed.push(group(0, 10));
    expect(feed.takeLeaves(0, 4)).toHaveLength(4);
    expect(feed.takeLeaves(2, 6)).toEqual([2, 3, 4, 5].map(expected));
    expect(feed.size).toBe(4);
  });

  it('drops whole groups past its bound (they are read from the store instead)', () => {
    const feed = new LeafFeed(5);
    feed.push(group(0, 4));
    feed.push(group(4, 4));
    expect(feed.dropped).toBe(4);
    expect(feed.takeLeaves(0, 100)).toHaveLength(4);
  });
});
