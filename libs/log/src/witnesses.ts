import type { Database } from '@custos/event-store';
import type { Logger } from 'pino';
import type { LogTree } from './tree.js';

/** What a witness is handed: a signed checkpoint and its size. */
interface SignedCheckpoint {
  readonly treeSize: number;
  readonly jws: string;
}

export type PostJson = (url: string, body: unknown) => Promise<{ status: number; body: Record<string, unknown> }>;

export const postJson: PostJson = async (url, body) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
};

export interface WitnessRefusal {
  readonly witnessUrl: string;
  readonly treeSize: number;
  readonly code: string;
  readonly detail: string;
}

/**
 * Hands each new checkpoint to the configured witnesses (C2SP tlog-witness style): with the
 * consistency proof from the size the witness last cosigned. A 409 tells the size it holds
 * (one retry from there); a 422 is a refusal: the log is not consistent with what the witness
 * saw, which `onRefusal` turns into an alarm. An unreachable witness is tried again with the
 * next checkpoint.
 */
export class WitnessClient {
  constructor(
    private readonly db: Database,
    private readonly tree: LogTree,
    private readonly urls: readonly string[],
    private readonly logger: Logger,
    private readonly onRefusal: (refusal: WitnessRefusal) => Promise<void>,
    private readonly post: PostJson = postJson,
  ) {}

  async submit(checkpoint: SignedCheckpoint): Promise<void> {
    for (const url of this.urls) {
      try {
        await this.submitTo(url, checkpoint);
      } catch (e) {
        this.logger.warn({ witness: url, err: { message: (e as Error).message } }, 'log: witness unreachable; trying again with the next checkpoint');
      }
    }
  }

  async cosignatures(treeSize: number): Promise<Array<{ witness: string; cosignature: string }>> {
    return this.db.query<{ witness: string; cosignature: string }>('SELECT witness, cosignature FROM custos_log_cosignatures WHERE tree_size = $1 ORDER BY witness_url', [treeSize]);
  }

  private async submitTo(url: string, checkpoint: SignedCheckpoint): Promise<void> {
    const [row] = await this.db.query<{ size: string | number | null }>('SELECT max(tree_size) AS size FROM custos_log_cosignatures WHERE witness_url = $1', [url]);
    let oldSize = Number(row?.size ?? 0);
    for (let attempt = 0; attempt < 2; attempt++) {
      const proof = oldSize > 0 && oldSize < checkpoint.treeSize ? (await this.tree.consistency(oldSize, checkpoint.treeSize)).map((h) => h.toString('hex')) : [];
      const answer = await this.post(`${url.replace(/\/$/, '')}/add-checkpoint`, { checkpoint: checkpoint.jws, oldSize, proof });
      if (answer.status === 200 && typeof answer.body.cosignature === 'string') {
        await this.db.execute('INSERT INTO custos_log_cosignatures (tree_size, witness_url, witness, cosignature) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
          checkpoint.treeSize,
          url,
          String(answer.body.witness ?? url),
          answer.body.cosignature,
        ]);
        return;
      }
      if (answer.status === 409 && typeof answer.body.size === 'number' && answer.body.size !== oldSize && answer.body.size <= checkpoint.treeSize) {
        oldSize = answer.body.size;
        continue;
      }
      if (answer.status === 422 || answer.status === 409) {
        await this.onRefusal({ witnessUrl: url, treeSize: checkpoint.treeSize, code: String(answer.body.code ?? answer.status), detail: String(answer.body.detail ?? '') });
        return;
      }
      throw new Error(`witness answered ${answer.status}`);
    }
  }
}
