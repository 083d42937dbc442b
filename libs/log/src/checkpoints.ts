import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Database, EventStore } from '@custos/event-store';
import { KeyService, KeySigner } from '@custos/keys';
import { CUSTOS_CONFIG, LOGGER, READINESS_PROBES, type ReadinessProbe } from '@custos/kernel';
import { type CustosConfig, registered } from '@custos/platform';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { LogIntegrityAlarmData } from './domain/log-integrity.events.js';
import { LogAlarms } from './log-alarms.js';
import { LeafFeed, LogTree } from './tree.js';
import { openCheckpoint } from './verify-checkpoint.js';
import { WitnessClient, type WitnessRefusal } from './witnesses.js';


export interface Checkpoint {
  treeSize: number;
  /** Base64 (as in the note body). */
  rootHash: string;
  /** The C2SP tlog-checkpoint note body: origin, decimal size, base64 root, each on its line. */
  body: string;
  /** Compact JWS (ES256, typ tlog-checkpoint+jws) over the body. */
  jws: string;
  createdAt: string;
}

export function checkpointBody(origin: string, size: number, root: Buffer): string {
  return `${origin}\n${size}\n${root.toString('base64')}\n`;
}

/** A row of the checkpoint table that is not a checkpoint this log signed of its own tree. */
export interface BadCheckpoint {
  /** The row's size. */
  readonly treeSize: number;
  /** The integrated tree's size when it was found. */
  readonly headSize: number;
  readonly reason: string;
}

/**
 * Signs checkpoints of the integrated tree with the key service's `checkpoints` key and keeps
 * them. At most one per interval while the log grows; none while it does not.
 *
 * The table is not trusted: whoever holds the database can write rows into it. A row is
 * served or relied on only when its JWS verifies under the `checkpoints` keys, its fields are
 * the ones signed, its size is within the integrated tree and its root is the tree's root at
 * that size; any other row is reported (`onBad`) and ignored, and a bad row at the size being
 * signed is replaced by the real checkpoint, so rows planted for future sizes cannot stop the
 * signing (and with it the witnesses).
 */
export class Checkpoints {
  private readonly signer: KeySigner;
  private readonly tree: LogTree;
  private readonly onBad: (bad: BadCheckpoint) => Promise<void>;
  /** What each JWS already verified says (its fields are compared with the row's, and its root with the tree's, every time). */
  private readonly verified = new Map<string, { origin: string; size: number; root: Buffer }>();

  constructor(
    private readonly db: Database,
    keys: KeyService,
    private readonly origin: string,
    options: { tree?: LogTree; onBad?: (bad: BadCheckpoint) => Promise<void> } = {},
  ) {
    this.signer = new KeySigner(keys, 'checkpoints');
    this.tree = options.tree ?? new LogTree(db);
    this.onBad = options.onBad ?? (async () => undefined);
  }

  async sign(tree: LogTree = this.tree): Promise<Checkpoint | null> {
    const head = await tree.head();
    const { size, root } = head;
    if (size === 0) return null;
    const [existing] = await this.db.query<CheckpointRow>('SELECT * FROM custos_log_checkpoints WHERE tree_size = $1', [size]);
    if (existing) {
      const reason = await this.problem(existing, head, tree);
      if (!reason) return null; // signed already (here or by another gateway)
      await this.onBad({ treeSize: size, headSize: size, reason });
    }
    const body = checkpointBody(this.origin, size, root);
    const jws = await this.signer.sign(body, { typ: 'tlog-checkpoint+jws', cty: 'text/plain' });
    // Replaces the bad row it found (and only that one: a real checkpoint written meanwhile by another gateway stays).
    await this.db.execute(
      `INSERT INTO custos_log_checkpoints (tree_size, root, body, jws) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tree_size) DO UPDATE SET root = EXCLUDED.root, body = EXCLUDED.body, jws = EXCLUDED.jws, created_at = now() WHERE custos_log_checkpoints.jws = $5`,
      [size, root, body, jws, existing?.jws ?? null],
    );
    return this.at(size);
  }

  /**
   * Another statement about the log signed with the same key, told apart by its `typ` (an
   * export's stream heads): a verifier holding the log's keys checks it as it checks checkpoints.
   */
  signStatement(payload: string, typ: string): Promise<string> {
    if (typ === 'tlog-checkpoint+jws') throw new Error('a statement is not a checkpoint');
    return this.signer.sign(payload, { typ, cty: 'application/json' });
  }

  /** The latest checkpoint that verifies; bad rows on the way are reported and skipped. */
  async latest(): Promise<Checkpoint | null> {
    const head = await this.tree.head();
    for (let below = head.size; below > 0; ) {
      const rows = await this.db.query<CheckpointRow>('SELECT * FROM custos_log_checkpoints WHERE tree_size <= $1 ORDER BY tree_size DESC LIMIT 20', [below]);
      for (const row of rows) if (await this.good(row, head)) return toCheckpoint(row);
      if (rows.length < 20) break;
      below = Number((rows[rows.length - 1] as CheckpointRow).tree_size) - 1;
    }
    return null;
  }

  /** The checkpoint at this size, if one that verifies is on record. */
  async at(size: number): Promise<Checkpoint | null> {
    const [row] = await this.db.query<CheckpointRow>('SELECT * FROM custos_log_checkpoints WHERE tree_size = $1', [size]);
    return row && (await this.good(row, await this.tree.head())) ? toCheckpoint(row) : null;
  }

  /**
   * Rows for sizes the tree has not reached: none is a checkpoint yet, and one whose signature
   * fails never will be. Those are reported and removed (at most `limit` a round), so they
   * alarm as soon as they are written, not when the tree reaches them. A row that verifies is
   * left (another gateway may have signed past the head this process read): `sign` checks
   * its root when the tree gets there. Returns how many were removed.
   */
  async sweepAhead(limit = 200): Promise<number> {
    const { size } = await this.tree.head();
    const rows = await this.db.query<CheckpointRow>('SELECT * FROM custos_log_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2', [size, limit]);
    const bad: CheckpointRow[] = [];
    for (const row of rows) if (await this.signatureProblem(row)) bad.push(row);
    if (bad.length === 0) return 0;
    const first = bad[0] as CheckpointRow;
    const last = bad[bad.length - 1] as CheckpointRow;
    await this.onBad({ treeSize: Number(first.tree_size), headSize: size, reason: `${bad.length} checkpoint row(s) for sizes ${Number(first.tree_size)}..${Number(last.tree_size)}, beyond the tree's ${size}, not signed with the log's checkpoint key` });
    await this.db.execute('DELETE FROM custos_log_checkpoints t USING unnest($1::bigint[], $2::text[]) AS b(size, jws) WHERE t.tree_size = b.size AND t.jws = b.jws', [bad.map((r) => Number(r.tree_size)), bad.map((r) => r.jws)]);
    return bad.length;
  }

  private async good(row: CheckpointRow, head: { size: number; root: Buffer }): Promise<boolean> {
    const reason = await this.problem(row, head, this.tree);
    if (reason) await this.onBad({ treeSize: Number(row.tree_size), headSize: head.size, reason });
    return !reason;
  }

  /** Why this row is not a checkpoint of this log's tree, or null when it is one. */
  private async problem(row: CheckpointRow, head: { size: number; root: Buffer }, tree: LogTree): Promise<string | null> {
    const size = Number(row.tree_size);
    const signature = await this.signatureProblem(row);
    if (signature) return signature;
    if (size > head.size) return `the checkpoint of size ${size} is beyond the integrated tree (${head.size})`;
    const root = size === head.size ? head.root : await tree.root(size);
    if (!root.equals(Buffer.from(row.root))) return `the checkpoint of size ${size} has a root that is not the tree's at that size`;
    return null;
  }

  private async signatureProblem(row: CheckpointRow): Promise<string | null> {
    const size = Number(row.tree_size);
    let opened = this.verified.get(row.jws);
    if (!opened) {
      try {
        opened = await openCheckpoint(row.jws, await this.signer.keystore()).catch(async () => openCheckpoint(row.jws, await this.signer.keystore(true)));
      } catch {
        return `the checkpoint row of size ${size} is not signed with the log's checkpoint key`;
      }
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(row.jws, opened);
    }
    // A genuine signature copied onto another row says nothing about that row.
    if (opened.origin !== this.origin || opened.size !== size || !opened.root.equals(Buffer.from(row.root)) || row.body !== checkpointBody(opened.origin, opened.size, opened.root)) {
      return `the checkpoint row of size ${size} does not hold what its signature covers (origin, size, root, body)`;
    }
    return null;
  }
}

interface CheckpointRow {
  tree_size: string | number;
  root: Buffer | Uint8Array;
  body: string;
  jws: string;
  created_at: Date | string;
}

function toCheckpoint(r: CheckpointRow): Checkpoint {
  return { treeSize: Number(r.tree_size), rootHash: Buffer.from(r.root).toString('base64'), body: r.body, jws: r.jws, createdAt: new Date(r.created_at).toISOString() };
}

/**
 * The integrator, hosted by every gateway (the process that holds the signing keys): it adds
 * new events to the tree every `integrateMs` and signs a checkpoint at most every
 * `checkpointMs` while the log grows. Never on an append's own path; gateways serialise on
 * the tree head's row lock.
 *
 * It also watches the log's integrity, with one alarm per distinct cause (`LogAlarms`): a
 * witness's refusal, a witness that has let the log grow longer than `witnessMaxLagMs`
 * without a cosignature, a checkpoint row Custos did not sign of its own tree. `/health`
 * reports the first and the last as `log-integrity`, the lag as `witness-lag`.
 */
@Injectable()
export class LogIntegrator implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly tree: LogTree;
  readonly feed: LeafFeed;
  private readonly detach: () => void;
  readonly checkpoints: Checkpoints;
  readonly witnesses: WitnessClient;
  readonly alarms: LogAlarms;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastCheckpoint = 0;
  private failing = false;
  private readonly lagGauge = registered('custos_witness_lag_seconds', () => new Gauge({ name: 'custos_witness_lag_seconds', help: 'How long the log has grown without a cosignature of this witness (0: it cosigned everything signed)', labelNames: ['witness'] }));

  constructor(
    @Inject(Database) db: Database,
    @Inject(KeyService) keys: KeyService,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(EventStore) store: EventStore,
    @Inject(READINESS_PROBES) probes: ReadinessProbe[],
  ) {
    // What this gateway appends reaches the tree in memory; the rest is read back from the store.
    this.feed = new LeafFeed();
    this.detach = this.feed.attach(store);
    this.tree = new LogTree(db, { feed: this.feed });
    this.alarms = new LogAlarms(store, logger);
    this.checkpoints = new Checkpoints(db, keys, config.log.origin, { tree: this.tree, onBad: (bad) => this.badCheckpoint(bad) });
    this.witnesses = new WitnessClient(
      db,
      this.tree,
      config.log.witnessUrls,
      logger,
      {
        onRefusal: (r) => this.refused(r),
        onCosigned: async (url) => {
          for (const a of this.alarms.current('witness-refused')) if (a.witnessUrl === url) await this.alarms.clear(a.cause, `witness ${url} cosigned again`, new Date());
        },
      },
      (size) => this.checkpoints.at(size),
    );
    probes.push(
      {
        name: 'log-integrity',
        kind: 'alarm',
        check: async () => {
          await this.alarms.load();
          const open = this.alarms.current('witness-refused', 'bad-checkpoint');
          if (open.length > 0) throw new Error(`failed: ${open.map((a) => a.detail).join('; ')}`);
        },
      },
      {
        name: 'witness-lag',
        kind: 'alarm',
        check: async () => {
          await this.alarms.load();
          const open = this.alarms.current('witness-lag');
          if (open.length > 0) throw new Error(`degraded: ${open.map((a) => a.detail).join('; ')}`);
        },
      },
    );
  }

  /** Whether an alarm about the log's consistency (a refusal, a bad checkpoint row) is open; lag is separate. */
  get integrity(): { ok: true } | { ok: false; alarms: LogIntegrityAlarmData[] } {
    const open = this.alarms.current('witness-refused', 'bad-checkpoint');
    return open.length === 0 ? { ok: true } : { ok: false, alarms: open };
  }

  /** A witness refused: the log is not consistent with what it saw. One alarm per witness and refusal code until it cosigns again. */
  private refused(refusal: WitnessRefusal): Promise<void> {
    return this.alarms.raise(
      {
        cause: `witness-refused:${refusal.witnessUrl}:${refusal.code}`,
        kind: 'witness-refused',
        ...refusal,
        detail: `witness ${refusal.witnessUrl} refused the checkpoint of size ${refusal.treeSize} (${refusal.code}: ${refusal.detail.slice(0, 200)}): the log is not consistent with what it saw`,
      },
      new Date(),
    );
  }

  /**
   * A checkpoint row Custos did not sign of its tree: ignored, and one alarm (however many
   * rows) until a checkpoint past the size where it was found is signed and cosigned by every
   * witness.
   */
  private async badCheckpoint(bad: BadCheckpoint): Promise<void> {
    try {
      await this.alarms.raise({ cause: 'bad-checkpoint', kind: 'bad-checkpoint', detail: `a checkpoint row was ignored: ${bad.reason}`, treeSize: bad.headSize }, new Date());
    } catch (e) {
      // A read (GET /v1/log/checkpoint) still answers with a checkpoint that verifies; the next read that meets the row raises it again.
      this.logger.error({ treeSize: bad.treeSize, err: { message: (e as Error).message } }, `log: a checkpoint row was ignored (${bad.reason}); the alarm could not be recorded`);
    }
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.tick().finally(() => (this.running = undefined));
    }, this.config.log.integrateMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.detach();
    await this.running;
  }

  /** One round: integrate what is new, sign if due, watch the witnesses. Public for tests and the CLI. */
  async tick(now = Date.now()): Promise<void> {
    let signed: Checkpoint | null = null;
    try {
      await this.alarms.load(5000);
      let size = (await this.tree.head()).size;
      for (;;) {
        const next = await this.tree.integrate();
        if (next === size) break;
        size = next;
      }
      await this.checkpoints.sweepAhead();
      if (size > 0 && now - this.lastCheckpoint >= this.config.log.checkpointMs) {
        signed = await this.checkpoints.sign(this.tree);
        if (signed) {
          this.lastCheckpoint = now;
          if (this.config.log.witnessUrls.length > 0) await this.witnesses.submit(signed);
        }
      }
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.logger.error({ err: { message: (e as Error).message } }, 'log: integration failed; retrying');
      this.failing = true;
    }
    // Watched even when integration fails: a tree someone broke must not silence the lag alarm.
    try {
      await this.watch(now, signed);
    } catch (e) {
      this.logger.error({ err: { message: (e as Error).message } }, 'log: watching the witnesses failed; retrying');
    }
  }

  /**
   * The lag of each witness (a metric, and an alarm past `witnessMaxLagMs` that ends when it
   * cosigns again), and the end of a bad-checkpoint alarm: once every witness has cosigned a
   * checkpoint past the bad row (without witnesses: once a later one is signed).
   */
  private async watch(now: number, signed: Checkpoint | null): Promise<void> {
    const at = new Date(now);
    const lags = this.config.log.witnessUrls.length > 0 ? await this.witnesses.lag(now) : [];
    for (const { witnessUrl, cosignedSize, lagMs } of lags) {
      this.lagGauge.set({ witness: witnessUrl }, lagMs / 1000);
      const cause = `witness-lag:${witnessUrl}`;
      if (lagMs > this.config.log.witnessMaxLagMs) {
        await this.alarms.raise(
          { cause, kind: 'witness-lag', detail: `witness ${witnessUrl} has not cosigned for ${Math.round(lagMs / 1000)} s while the log grew (last cosigned size ${cosignedSize}; WITNESS_MAX_LAG_MS ${this.config.log.witnessMaxLagMs})`, witnessUrl, treeSize: cosignedSize, lagMs },
          at,
        );
      } else if (this.alarms.isOpen(cause)) await this.alarms.clear(cause, `witness ${witnessUrl} cosigned size ${cosignedSize}`, at);
    }
    const bad = this.alarms.current('bad-checkpoint')[0];
    if (bad) {
      const past = lags.length > 0 ? Math.min(...lags.map((l) => l.cosignedSize)) : (signed?.treeSize ?? 0);
      if (past > (bad.treeSize ?? 0)) await this.alarms.clear(bad.cause, `the log was signed${lags.length > 0 ? ' and witnessed' : ''} again at size ${past}`, at);
    }
  }
}
