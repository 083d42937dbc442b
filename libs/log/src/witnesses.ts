import { type Database, readLog } from '@custos/event-store';
import jose from 'node-jose';
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

/** What the client tells its host: a refusal (an alarm), a cosignature (a refusal or lag alarm of that witness ends). */
export interface WitnessHooks {
  onRefusal(refusal: WitnessRefusal): Promise<void>;
  onCosigned?(witnessUrl: string, treeSize: number): Promise<void>;
}

/** How far one witness is behind the log. */
export interface WitnessLag {
  readonly witnessUrl: string;
  /** The largest size this witness cosigned, by a cosignature that verifies (0 for none). */
  readonly cosignedSize: number;
  /** How long the log has held events this witness has not cosigned: since the first of them was appended; 0 when none. */
  readonly lagMs: number;
}

export type FetchJson = (url: string) => Promise<unknown>;
const fetchJson: FetchJson = async (url) => (await fetch(url, { signal: AbortSignal.timeout(5000) })).json();

/**
 * Hands each new checkpoint to the configured witnesses (C2SP tlog-witness style): with the
 * consistency proof from the size the witness last cosigned. A 409 tells the size it holds
 * (one retry from there); a 422 is a refusal: the log is not consistent with what the witness
 * saw, which `onRefusal` turns into an alarm. An unreachable witness is tried again with the
 * next checkpoint.
 *
 * `lag` says how long each witness has let the log grow without a cosignature. It counts only
 * cosignatures that verify (the witness's key from its `/.well-known/jwks.json`, over the body
 * of a checkpoint that itself verifies), so rows written into the table by hand cannot hide a
 * silent witness.
 */
export class WitnessClient {
  /** Per witness: the largest size whose stored cosignature verified. */
  private readonly verifiedSize = new Map<string, number>();
  /** Per witness: when this process first saw the log hold events beyond `size`. */
  private readonly behindSince = new Map<string, { size: number; at: number }>();
  private readonly witnessKeys = new Map<string, { store: Promise<jose.JWK.KeyStore>; at: number }>();

  constructor(
    private readonly db: Database,
    private readonly tree: LogTree,
    private readonly urls: readonly string[],
    private readonly logger: Logger,
    private readonly hooks: WitnessHooks,
    private readonly checkpointAt: (size: number) => Promise<{ body: string } | null>,
    private readonly post: PostJson = postJson,
    private readonly getJson: FetchJson = fetchJson,
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

  /**
   * The cosignatures of the checkpoint of `treeSize` that verify: from a configured witness, by
   * its key, over that checkpoint's body. Rows written into the table by hand (or left by a
   * witness no longer configured) are left out of what is served and exported, with a warning.
   */
  async cosignatures(treeSize: number): Promise<Array<{ witness: string; cosignature: string }>> {
    const rows = await this.db.query<{ witness_url: string; witness: string; cosignature: string }>('SELECT witness_url, witness, cosignature FROM custos_log_cosignatures WHERE tree_size = $1 ORDER BY witness_url', [treeSize]);
    const out: Array<{ witness: string; cosignature: string }> = [];
    for (const row of rows) {
      if (this.urls.includes(row.witness_url) && (await this.cosignatureHolds(row.witness_url, treeSize, row.cosignature))) out.push({ witness: row.witness, cosignature: row.cosignature });
      else this.logger.warn({ witness: row.witness_url, treeSize }, 'log: a stored cosignature does not verify (or its witness is not configured): left out');
    }
    return out;
  }

  /**
   * Each configured witness's lag behind the log at `now`: how long the store has held events
   * beyond the size it last cosigned, as this process observed it (a restart starts observing
   * again; the events' own times are not used, they are whatever their writers said).
   */
  async lag(now: number): Promise<WitnessLag[]> {
    const out: WitnessLag[] = [];
    for (const url of this.urls) {
      const cosignedSize = await this.verifiedCosignedSize(url);
      const grown = (await readLog(this.db, cosignedSize, cosignedSize, 1)).length > 0;
      let behind = this.behindSince.get(url);
      if (!grown) this.behindSince.delete(url);
      else if (!behind || behind.size !== cosignedSize) this.behindSince.set(url, (behind = { size: cosignedSize, at: now }));
      out.push({ witnessUrl: url, cosignedSize, lagMs: grown && behind ? Math.max(0, now - behind.at) : 0 });
    }
    return out;
  }

  private async verifiedCosignedSize(url: string): Promise<number> {
    const known = this.verifiedSize.get(url) ?? 0;
    const rows = await this.db.query<{ tree_size: string | number; cosignature: string }>(
      'SELECT tree_size, cosignature FROM custos_log_cosignatures WHERE witness_url = $1 AND tree_size > $2 ORDER BY tree_size DESC LIMIT 5',
      [url, known],
    );
    for (const row of rows) {
      const size = Number(row.tree_size);
      if (await this.cosignatureHolds(url, size, row.cosignature)) {
        this.verifiedSize.set(url, size);
        return size;
      }
    }
    return known;
  }

  private async cosignatureHolds(url: string, size: number, cosignature: string): Promise<boolean> {
    const checkpoint = await this.checkpointAt(size);
    if (!checkpoint) return false;
    for (const refresh of [false, true]) {
      try {
        const verified = await jose.JWS.createVerify(await this.keysOf(url, refresh), { algorithms: ['ES256'] }).verify(cosignature);
        return (verified.header as { typ?: string }).typ === 'tlog-cosignature+jws' && verified.payload.toString('utf8') === checkpoint.body;
      } catch {
        // an unknown key (the witness rotated, or its keys were not read yet): read them again, once
      }
    }
    return false;
  }

  /** The witness's public keys, from its /.well-known/jwks.json; read again at most once a minute when asked to. */
  private keysOf(url: string, refresh: boolean): Promise<jose.JWK.KeyStore> {
    const held = this.witnessKeys.get(url);
    if (held && (!refresh || Date.now() - held.at < 60_000)) return held.store;
    const store = this.getJson(`${url.replace(/\/$/, '')}/.well-known/jwks.json`).then((jwks) => jose.JWK.asKeyStore(jwks as object));
    store.catch(() => this.witnessKeys.delete(url));
    this.witnessKeys.set(url, { store, at: Date.now() });
    return store;
  }

  private async submitTo(url: string, checkpoint: SignedCheckpoint): Promise<void> {
    const [row] = await this.db.query<{ size: string | number | null }>('SELECT max(tree_size) AS size FROM custos_log_cosignatures WHERE witness_url = $1', [url]);
    let oldSize = Number(row?.size ?? 0);
    for (let attempt = 0; attempt < 2; attempt++) {
      const proof = oldSize > 0 && oldSize < checkpoint.treeSize ? (await this.tree.consistency(oldSize, checkpoint.treeSize)).map((h) => h.toString('hex')) : [];
      const answer = await this.post(`${url.replace(/\/$/, '')}/add-checkpoint`, { checkpoint: checkpoint.jws, oldSize, proof });
      if (answer.status === 200 && typeof answer.body.cosignature === 'string') {
        // The witness's own answer wins over whatever row is there.
        await this.db.execute(
          'INSERT INTO custos_log_cosignatures (tree_size, witness_url, witness, cosignature) VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size, witness_url) DO UPDATE SET witness = EXCLUDED.witness, cosignature = EXCLUDED.cosignature',
          [checkpoint.treeSize, url, String(answer.body.witness ?? url), answer.body.cosignature],
        );
        if (checkpoint.treeSize > (this.verifiedSize.get(url) ?? 0) && (await this.cosignatureHolds(url, checkpoint.treeSize, answer.body.cosignature))) this.verifiedSize.set(url, checkpoint.treeSize);
        await this.hooks.onCosigned?.(url, checkpoint.treeSize);
        return;
      }
      if (answer.status === 409 && typeof answer.body.size === 'number' && answer.body.size !== oldSize && answer.body.size <= checkpoint.treeSize) {
        oldSize = answer.body.size;
        continue;
      }
      if (answer.status === 422 || answer.status === 409) {
        await this.hooks.onRefusal({ witnessUrl: url, treeSize: checkpoint.treeSize, code: String(answer.body.code ?? answer.status), detail: String(answer.body.detail ?? '') });
        return;
      }
      throw new Error(`witness answered ${answer.status}`);
    }
  }
}
