import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { verifyConsistency } from '@custos/merkle';
import jose from 'node-jose';

/**
 * A witness after C2SP tlog-witness, for Custos's checkpoints: it keeps the last checkpoint it
 * accepted per log origin (its own storage), accepts a new one only with a valid signature of
 * the log and a consistency proof from the one it holds, and cosigns it with its own key.
 * Refusals: 409 when the caller's idea of the old size is not the witness's (the answer says
 * which size it holds), 422 when the signature or the proof does not verify, 400 when the
 * request is malformed.
 */
export interface WitnessState {
  [origin: string]: { size: number; root: string };
}

export interface AddCheckpoint {
  /** The checkpoint as the log signed it (compact JWS over the note body). */
  checkpoint: string;
  /** The size of the checkpoint the caller believes the witness holds (0 for none). */
  oldSize: number;
  /** Consistency proof from oldSize to the new size, hex. */
  proof: string[];
}

export type WitnessAnswer = { status: 200; body: { cosignature: string; witness: string; treeSize: number } } | { status: 400 | 409 | 422; body: { code: string; detail: string; size?: number } };

export class Witness {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly key: jose.JWK.Key,
    private readonly logKeys: () => Promise<jose.JWK.KeyStore>,
    private readonly storage: { load(): Promise<WitnessState>; save(state: WitnessState): Promise<void> },
  ) {}

  /** One request at a time: the state is read and written whole. */
  add(request: unknown): Promise<WitnessAnswer> {
    const next = this.queue.then(() => this.addNow(request));
    this.queue = next.catch(() => undefined);
    return next;
  }

  publicJwk(): object {
    return this.key.toJSON(false);
  }

  private async addNow(input: unknown): Promise<WitnessAnswer> {
    const req = input as Partial<AddCheckpoint>;
    if (!req || typeof req.checkpoint !== 'string' || !Number.isSafeInteger(req.oldSize) || (req.oldSize as number) < 0 || !Array.isArray(req.proof) || !req.proof.every((p) => typeof p === 'string' && /^[0-9a-f]{64}$/.test(p))) {
      return { status: 400, body: { code: 'bad-request', detail: 'send {"checkpoint": "<jws>", "oldSize": n, "proof": ["<hex>", …]}' } };
    }
    let origin: string;
    let size: number;
    let root: Buffer;
    let body: string;
    try {
      const verified = await jose.JWS.createVerify(await this.logKeys(), { algorithms: ['ES256'] }).verify(req.checkpoint);
      if ((verified.header as { typ?: string }).typ !== 'tlog-checkpoint+jws') throw new Error('not a checkpoint');
      body = verified.payload.toString('utf8');
      const [o, s, r, end] = body.split('\n');
      root = Buffer.from(r ?? '', 'base64');
      if (!o || !/^(0|[1-9]\d{0,15})$/.test(s ?? '') || root.length !== 32 || end !== '') throw new Error('malformed body');
      origin = o;
      size = Number(s);
    } catch (e) {
      return { status: 422, body: { code: 'bad-signature', detail: `the checkpoint does not verify with the log's keys (${(e as Error).message})` } };
    }
    const state = await this.storage.load();
    const held = state[origin];
    const heldSize = held?.size ?? 0;
    if (req.oldSize !== heldSize) return { status: 409, body: { code: 'old-size-mismatch', detail: `this witness holds size ${heldSize} of ${origin}`, size: heldSize } };
    if (held) {
      const heldRoot = Buffer.from(held.root, 'base64');
      if (size < held.size) return { status: 409, body: { code: 'older-than-held', detail: `this witness holds size ${held.size}`, size: held.size } };
      const consistent = size === held.size ? heldRoot.equals(root) && req.proof.length === 0 : verifyConsistency(held.size, size, heldRoot, root, req.proof.map((p) => Buffer.from(p, 'hex')));
      if (!consistent) return { status: 422, body: { code: 'inconsistent', detail: `the checkpoint of size ${size} does not extend the one of size ${held.size} this witness holds` } };
    }
    state[origin] = { size, root: root.toString('base64') };
    await this.storage.save(state);
    const cosignature = (await jose.JWS.createSign({ format: 'compact', fields: { alg: 'ES256', kid: this.key.kid, typ: 'tlog-cosignature+jws', witness: this.name } }, this.key).update(body).final()) as unknown as string;
    return { status: 200, body: { cosignature, witness: this.name, treeSize: size } };
  }
}

/** The witness's state in one JSON file, replaced atomically (0600). */
export function fileStorage(path: string): { load(): Promise<WitnessState>; save(state: WitnessState): Promise<void> } {
  return {
    async load() {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as WitnessState;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
        throw e;
      }
    },
    async save(state) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
      await chmod(path, 0o600);
    },
  };
}

/** The witness's signing key, made once in its data folder (0600). */
export async function witnessKey(path: string): Promise<jose.JWK.Key> {
  try {
    return await jose.JWK.asKey(JSON.parse(await readFile(path, 'utf8')) as object);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`the witness key ${path} cannot be read: restore it or remove it to start as a new witness`, { cause: e });
  }
  const key = await jose.JWK.createKey('EC', 'P-256', { alg: 'ES256', use: 'sig' });
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, JSON.stringify(key.toJSON(true)), { mode: 0o600 });
  return key;
}
