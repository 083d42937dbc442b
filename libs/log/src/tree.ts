import { createHash } from 'node:crypto';
import { canonicalJson, type Database, type Json, readLog, type Sql, type StoredEvent } from '@custos/event-store';
import { consistencyPath, inclusionPath, leafHash, nodeHash, perfectSubtrees, rootFromPerfect } from '@custos/merkle';

/** The leaf input of the event at global sequence i: the canonical JSON of the stored event, hash included. */
export function leafInput(e: StoredEvent): Buffer {
  return Buffer.from(
    canonicalJson({
      eventId: e.eventId,
      streamId: e.streamId,
      version: e.version,
      globalSeq: e.globalSeq,
      type: e.type,
      schemaVersion: e.schemaVersion,
      data: e.data,
      metadata: e.metadata,
      occurredAt: e.occurredAt,
      prevHash: e.prevHash,
      ...(e.streamPrevHash !== undefined && e.streamPrevHash !== null ? { streamPrevHash: e.streamPrevHash } : {}),
      hash: e.hash,
    } as unknown as Json),
    'utf8',
  );
}

const EMPTY_ROOT = createHash('sha256').digest();

/**
 * The RFC 9162 tree over the global log, stored as perfect subtree nodes. `integrate` adds
 * the next events in order, behind the appends, under the head row's lock (so gateways that
 * all run it serialise); each event costs its leaf hash and, amortised, one node hash and one
 * row. Roots and proofs read O(log n) nodes in one statement.
 */
export class LogTree {
  constructor(private readonly db: Database) {}

  async head(sql: Sql = this.db): Promise<{ size: number; root: Buffer }> {
    const [row] = await sql.query<{ size: string | number; root: Buffer | Uint8Array }>('SELECT size, root FROM custos_log_head WHERE id = 1');
    return row ? { size: Number(row.size), root: Buffer.from(row.root) } : { size: 0, root: EMPTY_ROOT };
  }

  /** Integrates up to `max` events after the current size; returns the new size. */
  async integrate(max = 5000): Promise<number> {
    return this.db.transaction(async (sql) => {
      await sql.execute('INSERT INTO custos_log_head (id, size, root) VALUES (1, 0, $1) ON CONFLICT DO NOTHING', [EMPTY_ROOT]);
      const [row] = await sql.query<{ size: string | number }>('SELECT size FROM custos_log_head WHERE id = 1 FOR UPDATE');
      const size = Number(row?.size ?? 0);
      const events = await readLog(sql, size, size + max - 1, max);
      if (events.length === 0) return size;
      // The frontier: the perfect subtrees the tree of `size` ends with (one per set bit).
      const frontier = perfectSubtrees(0, size);
      const known = await this.nodes(sql, frontier);
      const added: Array<{ level: number; index: number; hash: Buffer }> = [];
      const put = (level: number, index: number, hash: Buffer) => {
        known.set(`${level}:${index}`, hash);
        added.push({ level, index, hash });
      };
      let n = size;
      for (const e of events) {
        if (e.globalSeq !== n) throw new Error(`log gap: expected global sequence ${n}, read ${e.globalSeq}`);
        let level = 0;
        let index = n;
        let hash = leafHash(leafInput(e));
        put(level, index, hash);
        while (index % 2 === 1) {
          const left = known.get(`${level}:${index - 1}`) as Buffer;
          hash = nodeHash(left, hash);
          level += 1;
          index = (index - 1) / 2;
          put(level, index, hash);
        }
        n += 1;
      }
      const root = rootFromPerfect(0, n, (level, index) => known.get(`${level}:${index}`) as Buffer);
      await sql.execute(
        'INSERT INTO custos_log_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING',
        [added.map((a) => a.level), added.map((a) => a.index), added.map((a) => a.hash)],
      );
      await sql.execute('UPDATE custos_log_head SET size = $1, root = $2 WHERE id = 1', [n, root]);
      return n;
    });
  }

  /** MTH of the first `size` leaves (size <= the integrated size). */
  async root(size: number, sql: Sql = this.db): Promise<Buffer> {
    if (size === 0) return EMPTY_ROOT;
    const need = perfectSubtrees(0, size);
    const known = await this.nodes(sql, need);
    return rootFromPerfect(0, size, (level, index) => known.get(`${level}:${index}`) as Buffer);
  }

  async inclusion(index: number, size: number): Promise<Buffer[]> {
    return this.withRoots((roots) => inclusionPath(index, size, roots));
  }

  async consistency(size1: number, size2: number): Promise<Buffer[]> {
    return this.withRoots((roots) => consistencyPath(size1, size2, roots));
  }

  /**
   * Runs a proof twice: once to learn which perfect subtrees it touches, then with their
   * hashes read in one statement. O(log n) rows.
   */
  private async withRoots(proof: (roots: (from: number, to: number) => Buffer) => Buffer[]): Promise<Buffer[]> {
    const need: Array<{ level: number; index: number }> = [];
    proof((from, to) => {
      need.push(...perfectSubtrees(from, to));
      return EMPTY_ROOT;
    });
    const known = await this.nodes(this.db, need);
    return proof((from, to) => rootFromPerfect(from, to, (level, index) => known.get(`${level}:${index}`) as Buffer));
  }

  private async nodes(sql: Sql, wanted: ReadonlyArray<{ level: number; index: number }>): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    if (wanted.length === 0) return out;
    const rows = await sql.query<{ level: number; idx: string | number; hash: Buffer | Uint8Array }>(
      'SELECT n.level, n.idx, n.hash FROM custos_log_nodes n JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx',
      [wanted.map((w) => w.level), wanted.map((w) => w.index)],
    );
    for (const r of rows) out.set(`${r.level}:${Number(r.idx)}`, Buffer.from(r.hash));
    for (const w of wanted) if (!out.has(`${w.level}:${w.index}`)) throw new Error(`log tree node (${w.level}, ${w.index}) is missing: the tree is not integrated that far`);
    return out;
  }
}
