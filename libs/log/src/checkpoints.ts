import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Database, eventCodec, EventStore, handle } from '@custos/event-store';
import { KeyService, KeySigner } from '@custos/keys';
import { CUSTOS_CONFIG, LOGGER, READINESS_PROBES, type ReadinessProbe } from '@custos/runtime';
import type { CustosConfig } from '@custos/platform';
import type { Logger } from 'pino';
import { LeafFeed, LogTree } from './tree.js';
import { WitnessClient, type WitnessRefusal } from './witnesses.js';

/** A witness refused a checkpoint: the log is not consistent with what it saw. */
export type LogIntegrityAlarm = { readonly type: 'LogIntegrityAlarm'; readonly data: WitnessRefusal };
const alarmCodec = eventCodec<LogIntegrityAlarm>({ LogIntegrityAlarm: { version: 1 } });
const alarmDecider = { initialState: null, evolve: () => null, decide: (c: { data: WitnessRefusal }): LogIntegrityAlarm[] => [{ type: 'LogIntegrityAlarm', data: c.data }] };

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

/**
 * Signs checkpoints of the integrated tree with the key service's `checkpoints` key and keeps
 * them. At most one per interval while the log grows; none while it does not.
 */
export class Checkpoints {
  private readonly signer: KeySigner;

  constructor(
    private readonly db: Database,
    keys: KeyService,
    private readonly origin: string,
  ) {
    this.signer = new KeySigner(keys, 'checkpoints');
  }

  async sign(tree: LogTree): Promise<Checkpoint | null> {
    const { size, root } = await tree.head();
    if (size === 0) return null;
    const [exists] = await this.db.query('SELECT 1 FROM custos_log_checkpoints WHERE tree_size = $1', [size]);
    if (exists) return null;
    const body = checkpointBody(this.origin, size, root);
    const jws = await this.signer.sign(body, { typ: 'tlog-checkpoint+jws', cty: 'text/plain' });
    await this.db.execute('INSERT INTO custos_log_checkpoints (tree_size, root, body, jws) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [size, root, body, jws]);
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

  async latest(): Promise<Checkpoint | null> {
    const [row] = await this.db.query<CheckpointRow>('SELECT * FROM custos_log_checkpoints ORDER BY tree_size DESC LIMIT 1');
    return row ? toCheckpoint(row) : null;
  }

  async at(size: number): Promise<Checkpoint | null> {
    const [row] = await this.db.query<CheckpointRow>('SELECT * FROM custos_log_checkpoints WHERE tree_size = $1', [size]);
    return row ? toCheckpoint(row) : null;
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
 */
@Injectable()
export class LogIntegrator implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly tree: LogTree;
  readonly feed: LeafFeed;
  private readonly detach: () => void;
  readonly checkpoints: Checkpoints;
  readonly witnesses: WitnessClient;
  /** Set by a witness's refusal; /health then reports log-integrity failed. */
  integrity: { ok: true } | { ok: false; refusal: WitnessRefusal } = { ok: true };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastCheckpoint = 0;
  private failing = false;

  constructor(
    @Inject(Database) db: Database,
    @Inject(KeyService) keys: KeyService,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(READINESS_PROBES) probes: ReadinessProbe[],
  ) {
    // What this gateway appends reaches the tree in memory; the rest is read back from the store.
    this.feed = new LeafFeed();
    this.detach = this.feed.attach(store);
    this.tree = new LogTree(db, { feed: this.feed });
    this.checkpoints = new Checkpoints(db, keys, config.log.origin);
    this.witnesses = new WitnessClient(db, this.tree, config.log.witnessUrls, logger, (r) => this.alarm(r));
    probes.push({
      name: 'log-integrity',
      kind: 'alarm',
      check: async () => {
        if (!this.integrity.ok) throw new Error(`failed: witness ${this.integrity.refusal.witnessUrl} refused the checkpoint of size ${this.integrity.refusal.treeSize} (${this.integrity.refusal.code})`);
      },
    });
  }

  /** A witness refused: an event in the log, an error line, and /health says so. */
  private async alarm(refusal: WitnessRefusal): Promise<void> {
    this.integrity = { ok: false, refusal };
    this.logger.error({ witness: refusal.witnessUrl, treeSize: refusal.treeSize, code: refusal.code }, 'log: a witness refused a checkpoint: the log is not consistent with what it saw');
    await handle(this.store, 'log-integrity', alarmDecider, { data: refusal }, { actor: { id: 'custos-log', roles: ['system'] }, correlationId: `log-integrity-${refusal.treeSize}` }, {
      codec: alarmCodec,
      now: new Date(),
      expectedVersion: 'any',
    });
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

  /** One round: integrate what is new, sign if due. Public for tests and the CLI. */
  async tick(now = Date.now()): Promise<void> {
    try {
      const before = (await this.tree.head()).size;
      let size = before;
      for (;;) {
        const next = await this.tree.integrate();
        if (next === size) break;
        size = next;
      }
      if (size > 0 && now - this.lastCheckpoint >= this.config.log.checkpointMs) {
        const signed = await this.checkpoints.sign(this.tree);
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
  }
}
