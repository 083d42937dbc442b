import { createHash, hash } from 'node:crypto';
import { canonicalJson, CommitFeed, type Database, readLog, type Sql, type StoredEvent } from '@custos/event-store';
import { consistencyPath, inclusionPath, nodeHash, perfectSubtrees, rootFromPerfect } from '@custos/merkle';

type Position = Omit<StoredEvent, 'data' | 'metadata'>;

/**
 * The leaf input as text, from the canonical JSON of data and metadata: the canonical JSON of
 * the stored event, hash included, keys in RFC 8785 order (data, eventId, globalSeq, hash,
 * metadata, occurredAt, prevHash, schemaVersion, streamId, streamPrevHash when present, type,
 * version). The same bytes as `leafInput`, without parsing anything again.
 */
export function leafText(e: Position, canonicalData: string, canonicalMetadata: string): string {
  return (
    `{"data":${canonicalData},"eventId":${JSON.stringify(e.eventId)},"globalSeq":${e.globalSeq},"hash":${JSON.stringify(e.hash)},` +
    `"metadata":${canonicalMetadata},"occurredAt":${JSON.stringify(e.occurredAt)},"prevHash":${JSON.stringify(e.prevHash)},` +
    `"schemaVersion":${e.schemaVersion},"streamId":${JSON.stringify(e.streamId)},` +
    (e.streamPrevHash !== undefined && e.streamPrevHash !== null ? `"streamPrevHash":${JSON.stringify(e.streamPrevHash)},` : '') +
    `"type":${JSON.stringify(e.type)},"version":${e.version}}`
  );
}

/** The leaf input of the event at global sequence i: the canonical JSON of the stored event, hash included. */
export function leafInput(e: StoredEvent): Buffer {
  return Buffer.from(leafText(e, canonicalJson(e.data as never), canonicalJson(e.metadata as never)), 'utf8');
}

const EMPTY_ROOT = createHash('sha256').digest();

let scratch = Buffer.allocUnsafe(64 * 1024);

/** Printable ASCII but `"` and `\`: what JSON writes as it is (ids, hashes, dates, stream ids always are). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** A JSON string, as canonicalJson writes it; JSON.stringify only when something needs escaping. */
const str = (s: string) => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

/**
 * leafHash(leafInput(e)) without making the text: the same bytes written straight into a
 * reused buffer and hashed in one call (a third faster than concatenating a string and hashing
 * that; integration's own cost beside the hashing it cannot avoid).
 */
export function leafHashOf(e: Position, canonicalData: string, canonicalMetadata: string): Buffer {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; JSON.stringify at most 6 characters per unit.
  const short = e.streamId.length + e.type.length + e.eventId.length + e.occurredAt.length + e.hash.length + e.prevHash.length + (e.streamPrevHash?.length ?? 0);
  const need = 1 + 3 * (canonicalData.length + canonicalMetadata.length) + 18 * short + 256;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(2 ** Math.ceil(Math.log2(need)));
  const b = scratch;
  let o = 0;
  b[o++] = 0x00;
  o += b.write('{"data":', o, 'latin1');
  o += b.write(canonicalData, o);
  o += b.write(`,"eventId":${str(e.eventId)},"globalSeq":${e.globalSeq},"hash":${str(e.hash)},"metadata":`, o);
  o += b.write(canonicalMetadata, o);
  o += b.write(
    `,"occurredAt":${str(e.occurredAt)},"prevHash":${str(e.prevHash)},"schemaVersion":${e.schemaVersion},"streamId":${str(e.streamId)},` +
      (e.streamPrevHash !== undefined && e.streamPrevHash !== null ? `"streamPrevHash":${str(e.streamPrevHash)},` : '') +
      `"type":${str(e.type)},"version":${e.version}}`,
    o,
  );
  return hash('sha256', b.subarray(0, o), 'buffer');
}

/**
 * What this process committed and the tree has not integrated yet (`CommitFeed`), as leaf
 * hashes: the integrator hashes these leaves from the canonical text the append already made
 * instead of reading the events back and canonicalising them again (which cost ~90% of
 * integration).
 */
export class LeafFeed extends CommitFeed {
  /** The leaf hashes of [from, to) held here, contiguous from `from` (possibly none); forgets what lies below `from`. */
  takeLeaves(from: number, to: number): Buffer[] {
    return this.take(from, to).map((e) => leafHashOf(e.event, e.canonicalData, e.canonicalMetadata));
  }
}

/**
 * Tiles, after C2SP tlog-tiles but storing whole subtrees: with height h (4 in service), tile
 * (t, k) holds the nodes of levels h·t .. h·t+h-1 under the node (h·t+h, k), row j (level
 * h·t+j) holding 2^(h-j) hashes; 31 hashes, 992 bytes at h = 4. `width` is how many of its
 * bottom row exist (all once full); the right edge of the tree has one partial tile per tile
 * level, rewritten as it fills. One row per 16 nodes of its bottom level: integration writes
 * about one row per 15 events, and a proof reads its O(log n) hashes from a few rows. Height 4
 * keeps a tile inside PostgreSQL's row (no TOAST): with 8 (16 KB tiles) proofs read through
 * TOAST and their median doubled. (Tests use smaller heights so that tile boundaries come
 * within a few dozen events.)
 */
class Geometry {
  readonly width: number;
  readonly rowOffset: number[] = [];
  readonly bytes: number;

  constructor(readonly height: number) {
    if (!Number.isInteger(height) || height < 1 || height > 8) throw new RangeError('tile height must be 1..8');
    this.width = 2 ** height;
    for (let j = 0, at = 0; j < height; j++) {
      this.rowOffset.push(at);
      at += this.width / 2 ** j;
    }
    this.bytes = (2 * this.width - 1) * 32;
  }

  /** Where node (level, index) lives: its tile and its byte offset in it. */
  locate(level: number, index: number): { tileLevel: number; tileIndex: number; offset: number; row: number; column: number } {
    const tileLevel = Math.floor(level / this.height);
    const row = level - tileLevel * this.height;
    const perTile = this.width / 2 ** row;
    const tileIndex = Math.floor(index / perTile);
    const column = index - tileIndex * perTile;
    return { tileLevel, tileIndex, row, column, offset: ((this.rowOffset[row] as number) + column) * 32 };
  }
}

interface Tile {
  readonly level: number;
  readonly index: number;
  readonly hashes: Buffer;
  width: number;
  dirty: boolean;
}

const key = (level: number, index: number) => `${level}:${index}`;

/** Tiles read for one piece of work, and the nodes in them. */
class Tiles {
  readonly byKey = new Map<string, Tile>();

  private constructor(private readonly geometry: Geometry) {}

  static async read(sql: Sql, geometry: Geometry, wanted: ReadonlyArray<{ level: number; index: number }>): Promise<Tiles> {
    const tiles = new Tiles(geometry);
    const keys = new Map<string, { level: number; index: number }>();
    for (const w of wanted) {
      const at = geometry.locate(w.level, w.index);
      keys.set(key(at.tileLevel, at.tileIndex), { level: at.tileLevel, index: at.tileIndex });
    }
    if (keys.size === 0) return tiles;
    const list = [...keys.values()];
    const rows = await sql.query<{ tile_level: number; tile_index: string | number; width: number; hashes: Buffer | Uint8Array }>(
      'SELECT t.tile_level, t.tile_index, t.width, t.hashes FROM custos_log_tiles t JOIN unnest($1::smallint[], $2::bigint[]) AS w(l, i) ON t.tile_level = w.l AND t.tile_index = w.i',
      [list.map((k) => k.level), list.map((k) => k.index)],
    );
    for (const r of rows) {
      const tile: Tile = { level: Number(r.tile_level), index: Number(r.tile_index), width: Number(r.width), hashes: Buffer.from(r.hashes), dirty: false };
      tiles.byKey.set(key(tile.level, tile.index), tile);
    }
    return tiles;
  }

  node(level: number, index: number): Buffer {
    const at = this.geometry.locate(level, index);
    const tile = this.byKey.get(key(at.tileLevel, at.tileIndex));
    if (!tile || (at.column + 1) * 2 ** at.row > tile.width) throw new Error(`log tree node (${level}, ${index}) is missing: the tree is not integrated that far`);
    return tile.hashes.subarray(at.offset, at.offset + 32);
  }

  /** The tile each level last wrote to: integration writes level by level in order, so this spares a lookup by key per node. */
  private readonly current: Array<Tile | undefined> = [];

  set(level: number, index: number, hash: Buffer): void {
    const { height, width } = this.geometry;
    const tileLevel = Math.floor(level / height);
    const row = level - tileLevel * height;
    const perTile = width / 2 ** row;
    const tileIndex = Math.floor(index / perTile);
    const column = index - tileIndex * perTile;
    let tile = this.current[level];
    if (!tile || tile.index !== tileIndex || tile.level !== tileLevel) {
      const k = key(tileLevel, tileIndex);
      tile = this.byKey.get(k);
      if (!tile) {
        tile = { level: tileLevel, index: tileIndex, width: 0, hashes: Buffer.alloc(this.geometry.bytes), dirty: true };
        this.byKey.set(k, tile);
      }
      this.current[level] = tile;
    }
    hash.copy(tile.hashes, ((this.geometry.rowOffset[row] as number) + column) * 32);
    if (row === 0) tile.width = column + 1;
    tile.dirty = true;
  }

  dirty(): Tile[] {
    return [...this.byKey.values()].filter((t) => t.dirty);
  }
}

/**
 * Just the nodes asked for, 32 bytes each, cut out of their tiles by the database (hashes are
 * stored uncompressed, so a slice reads only the chunk that holds it): a proof moves O(log n)
 * hashes, not whole tiles.
 */
async function readNodes(sql: Sql, geometry: Geometry, wanted: ReadonlyArray<{ level: number; index: number }>): Promise<(level: number, index: number) => Buffer> {
  const found = new Map<string, Buffer>();
  const list = wanted.map((w) => ({ ...w, at: geometry.locate(w.level, w.index) }));
  if (list.length > 0) {
    const rows = await sql.query<{ level: number; idx: string | number; hash: Buffer | Uint8Array | null }>(
      `SELECT w.level, w.idx, CASE WHEN (w.col + 1) * (2 ^ w.row)::bigint <= t.width THEN substring(t.hashes FROM w.off + 1 FOR 32) END AS hash
         FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bigint[], $5::int[], $6::bigint[], $7::int[]) AS w(level, idx, tl, ti, row, col, off)
         JOIN custos_log_tiles t ON t.tile_level = w.tl AND t.tile_index = w.ti`,
      [list.map((w) => w.level), list.map((w) => w.index), list.map((w) => w.at.tileLevel), list.map((w) => w.at.tileIndex), list.map((w) => w.at.row), list.map((w) => w.at.column), list.map((w) => w.at.offset)],
    );
    for (const r of rows) if (r.hash) found.set(key(r.level, Number(r.idx)), Buffer.from(r.hash));
  }
  return (level, index) => {
    const hash = found.get(key(level, index));
    if (!hash) throw new Error(`log tree node (${level}, ${index}) is missing: the tree is not integrated that far`);
    return hash;
  };
}

/**
 * The RFC 9162 tree over the global log, stored as tiles. `integrate` adds the next events in
 * order, behind the appends, under the head row's lock (so gateways that all run it
 * serialise); each event costs its leaf hash and, amortised, one node hash; a batch writes a
 * few tile rows. Roots and proofs read O(log n) nodes, a few tiles, in one statement.
 */
export class LogTree {
  private readonly geometry: Geometry;

  constructor(
    private readonly db: Database,
    options: { feed?: LeafFeed; tileHeight?: number } = {},
  ) {
    this.feed = options.feed;
    this.geometry = new Geometry(options.tileHeight ?? 4);
  }

  private readonly feed: LeafFeed | undefined;

  async head(sql: Sql = this.db): Promise<{ size: number; root: Buffer }> {
    const [row] = await sql.query<{ size: string | number; root: Buffer | Uint8Array }>('SELECT size, root FROM custos_log_head WHERE id = 1');
    return row ? { size: Number(row.size), root: Buffer.from(row.root) } : { size: 0, root: EMPTY_ROOT };
  }

  /** Integrates up to `max` events after the current size; returns the new size. */
  async integrate(max = 20000): Promise<number> {
    return this.db.transaction(async (sql) => {
      await sql.execute('INSERT INTO custos_log_head (id, size, root) VALUES (1, 0, $1) ON CONFLICT DO NOTHING', [EMPTY_ROOT]);
      const [row] = await sql.query<{ size: string | number }>('SELECT size FROM custos_log_head WHERE id = 1 FOR UPDATE');
      const size = Number(row?.size ?? 0);
      let leaves = this.feed?.takeLeaves(size, size + max) ?? [];
      if (leaves.length === 0) leaves = (await readLog(sql, size, size + max - 1, max)).map((e, i) => {
        if (e.globalSeq !== size + i) throw new Error(`log gap: expected global sequence ${size + i}, read ${e.globalSeq}`);
        return leafHashOf(e, canonicalJson(e.data as never), canonicalJson(e.metadata as never));
      });
      if (leaves.length === 0) return size;
      // The frontier (one perfect subtree per set bit of size), and the right edge's tiles it grows into.
      const frontier = perfectSubtrees(0, size);
      const edge: Array<{ level: number; index: number }> = [];
      for (let level = 0; 2 ** level <= size + leaves.length; level += this.geometry.height) edge.push({ level, index: Math.floor(size / 2 ** level) });
      const tiles = await Tiles.read(sql, this.geometry, [...frontier, ...edge]);
      const stack: Array<{ level: number; hash: Buffer }> = frontier.map((f) => ({ level: f.level, hash: Buffer.from(tiles.node(f.level, f.index)) }));
      let n = size;
      for (const leaf of leaves) {
        let level = 0;
        let index = n;
        let node = leaf;
        tiles.set(0, index, node);
        while (stack.length > 0 && (stack[stack.length - 1] as { level: number }).level === level) {
          node = nodeHash((stack.pop() as { hash: Buffer }).hash, node);
          level += 1;
          index = Math.floor(index / 2);
          tiles.set(level, index, node);
        }
        stack.push({ level, hash: node });
        n += 1;
      }
      let root = (stack[stack.length - 1] as { hash: Buffer }).hash;
      for (let i = stack.length - 2; i >= 0; i--) root = nodeHash((stack[i] as { hash: Buffer }).hash, root);
      const dirty = tiles.dirty();
      await sql.execute(
        `INSERT INTO custos_log_tiles (tile_level, tile_index, width, hashes) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::int[], $4::bytea[])
         ON CONFLICT (tile_level, tile_index) DO UPDATE SET width = EXCLUDED.width, hashes = EXCLUDED.hashes WHERE custos_log_tiles.width < EXCLUDED.width`,
        [dirty.map((t) => t.level), dirty.map((t) => t.index), dirty.map((t) => t.width), dirty.map((t) => t.hashes)],
      );
      await sql.execute('UPDATE custos_log_head SET size = $1, root = $2 WHERE id = 1', [n, root]);
      return n;
    });
  }

  /** MTH of the first `size` leaves (size <= the integrated size). */
  async root(size: number, sql: Sql = this.db): Promise<Buffer> {
    if (size === 0) return EMPTY_ROOT;
    const need = perfectSubtrees(0, size);
    return rootFromPerfect(0, size, await readNodes(sql, this.geometry, need));
  }

  /** The stored leaf hashes of [from, to), as far as the tree holds them without a gap (`verify --against` names the first that differs). */
  async leafHashes(from: number, to: number, sql: Sql = this.db): Promise<Buffer[]> {
    const { width } = this.geometry;
    if (to <= from) return [];
    const rows = await sql.query<{ tile_index: string | number; width: number; hashes: Buffer | Uint8Array }>(
      'SELECT tile_index, width, hashes FROM custos_log_tiles WHERE tile_level = 0 AND tile_index BETWEEN $1 AND $2 ORDER BY tile_index',
      [Math.floor(from / width), Math.floor((to - 1) / width)],
    );
    const out: Buffer[] = [];
    for (const r of rows) {
      const base = Number(r.tile_index) * width;
      const next = from + out.length;
      if (base > next) break;
      const hashes = Buffer.from(r.hashes);
      for (let c = next - base; c < Number(r.width) && base + c < to; c++) out.push(hashes.subarray(c * 32, c * 32 + 32));
      if (Number(r.width) < width) break;
    }
    return out;
  }

  async inclusion(index: number, size: number): Promise<Buffer[]> {
    return this.withRoots((roots) => inclusionPath(index, size, roots));
  }

  async consistency(size1: number, size2: number): Promise<Buffer[]> {
    return this.withRoots((roots) => consistencyPath(size1, size2, roots));
  }

  /**
   * Runs a proof twice: once to learn which perfect subtrees it touches, then with the tiles
   * holding them read in one statement. O(log n) nodes, a few rows.
   */
  private async withRoots(proof: (roots: (from: number, to: number) => Buffer) => Buffer[]): Promise<Buffer[]> {
    const need: Array<{ level: number; index: number }> = [];
    proof((from, to) => {
      need.push(...perfectSubtrees(from, to));
      return EMPTY_ROOT;
    });
    const node = await readNodes(this.db, this.geometry, need);
    return proof((from, to) => rootFromPerfect(from, to, node));
  }
}
