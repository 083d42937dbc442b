import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Database } from '@custos/event-store';
import { KeyService, KeySigner } from '@custos/keys';
import { CUSTOS_CONFIG, LOGGER } from '@custos/runtime';
import type { CustosConfig } from '@custos/platform';
import type { Logger } from 'pino';
import { LogTree } from './tree.js';

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
  readonly checkpoints: Checkpoints;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastCheckpoint = 0;
  private failing = false;

  constructor(
    @Inject(Database) db: Database,
    @Inject(KeyService) keys: KeyService,
    @Inject(CUSTOS_CONFIG) private readonly config: CustosConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.tree = new LogTree(db);
    this.checkpoints = new Checkpoints(db, keys, config.log.origin);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.tick().finally(() => (this.running = undefined));
    }, this.config.log.integrateMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
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
        if (await this.checkpoints.sign(this.tree)) this.lastCheckpoint = now;
      }
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.logger.error({ err: { message: (e as Error).message } }, 'log: integration failed; retrying');
      this.failing = true;
    }
  }
}
