import { eventCodec, type Sql, type StoredEvent } from '@custos/event-store';
import { DecodedProjection, type ProjectedEvent } from './projection.js';

type Granted = { readonly type: 'Granted'; readonly data: { readonly patientId: string; readonly recipients: readonly { type: string; id: string }[]; readonly note?: string } };
type Revoked = { readonly type: 'Revoked'; readonly data: { readonly patientId: string } };

/** Granted v1 held recipients as bare ids; v2 types them. */
const codec = eventCodec<Granted | Revoked>({
  Granted: { version: 2, upcast: { 1: (data) => ({ ...(data as object), recipients: (data as { recipients: string[] }).recipients.map((id) => ({ type: 'dataset', id })) }) } },
  Revoked: { version: 1 },
});

class Recording extends DecodedProjection<Granted | Revoked> {
  readonly name = 'recording';
  readonly tables = [];
  readonly seen: ProjectedEvent<Granted | Revoked>[] = [];
  readonly batches: number[] = [];

  constructor() {
    super(codec);
  }

  protected project(_sql: Sql, e: ProjectedEvent<Granted | Revoked>): Promise<void> {
    this.seen.push(e);
    return Promise.resolve();
  }

  protected override async projectBatch(sql: Sql, events: readonly ProjectedEvent<Granted | Revoked>[]): Promise<void> {
    this.batches.push(events.length);
    await super.projectBatch(sql, events);
  }
}

const sql = {} as Sql; // never touched: the projection under test records what it is handed

function stored(globalSeq: number, type: string, schemaVersion: number, data: unknown): StoredEvent {
  return {
    eventId: `00000000-0000-4000-8000-${String(globalSeq).padStart(12, '0')}`,
    streamId: 's-1',
    version: globalSeq + 1,
    globalSeq,
    type,
    schemaVersion,
    data,
    metadata: { actor: { id: 'tester', roles: ['admin'] }, correlationId: 'c' },
    occurredAt: '2026-01-01T00:00:00.000Z',
    prevHash: '0'.repeat(64),
    hash: 'f'.repeat(64),
  };
}

describe('DecodedProjection (a read model typed by its codec)', () => {
  it('hands over decoded events, old schema versions upcast, with the envelope; skips what its codec does not know', async () => {
    const p = new Recording();
    await p.applyBatch(sql, [stored(0, 'Granted', 1, { patientId: 'p1', recipients: ['ds-1'] }), stored(1, 'SomethingElse', 1, { x: 1 }), stored(2, 'Revoked', 1, { patientId: 'p1' })]);
    expect(p.batches).toEqual([2]);
    expect(p.seen.map((e) => [e.globalSeq, e.type])).toEqual([
      [0, 'Granted'],
      [2, 'Revoked'],
    ]);
    const [granted] = p.seen;
    expect(granted?.type === 'Granted' && granted.data.recipients).toEqual([{ type: 'dataset', id: 'ds-1' }]);
    expect(granted).toMatchObject({ eventId: '00000000-0000-4000-8000-000000000000', streamId: 's-1', version: 1, metadata: { actor: { id: 'tester' } }, occurredAt: '2026-01-01T00:00:00.000Z', sealed: null });
    await p.applyBatch(sql, [stored(3, 'SomethingElse', 1, {})]);
    expect(p.batches).toEqual([2]); // nothing it reads: not called at all
  });

  it('keeps the sealed part of an event apart from its clear data, as it was stored', async () => {
    const p = new Recording();
    await p.apply(sql, stored(0, 'Granted', 2, { patientId: 'p1', recipients: [], sealed: 'eyJhbGciOiJkaXIifQ..iv.ct.tag' }));
    expect(p.seen[0]).toMatchObject({ data: { patientId: 'p1', recipients: [] }, sealed: 'eyJhbGciOiJkaXIifQ..iv.ct.tag' });
    expect(p.seen[0]?.data).not.toHaveProperty('sealed');
  });

  it('refuses an event written by a newer release (the runner quarantines it for this projection alone)', async () => {
    const p = new Recording();
    await expect(p.apply(sql, stored(0, 'Granted', 3, { patientId: 'p1', recipients: [] }))).rejects.toThrow(/newer release/);
    expect(p.seen).toEqual([]);
  });
});
