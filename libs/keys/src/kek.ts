import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KekConfig } from '@custos/platform';
import jose from 'node-jose';

/** Where the key-encryption key comes from: the validated config. */
export type KekSource = KekConfig;

/** The process stops with this at boot: it names the variable to fix. */
export class KeyConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Key configuration: ${variable} ${message}`);
    this.name = 'KeyConfigError';
  }
}

/**
 * The key-encryption keys this process holds: the first is the active one (new data keys are
 * wrapped under it); the others only unwrap what was wrapped before a rotation.
 */
export interface KekRing {
  readonly active: jose.JWK.Key;
  readonly all: jose.JWK.KeyStore;
  /** Where a generated KEK lives (embedded mode only): rotation writes the new ring there. */
  readonly file?: string;
}

/** A KEK's id: a thumbprint of its bytes, so the same key always has the same kid. */
function kekKid(k: string): string {
  return `kek-${createHash('sha256').update(k).digest('base64url').slice(0, 16)}`;
}

export async function octKek(raw: Buffer): Promise<jose.JWK.Key> {
  const k = raw.toString('base64url');
  return jose.JWK.asKey({ kty: 'oct', k, alg: 'A256KW', use: 'enc', kid: kekKid(k) });
}

export function newKekBytes(): Buffer {
  return randomBytes(32);
}

async function ringOf(json: unknown, variable: string, file?: string): Promise<KekRing> {
  const keys = (json && typeof json === 'object' && Array.isArray((json as { keys?: unknown }).keys) ? (json as { keys: unknown[] }).keys : [json]) as Array<Record<string, unknown>>;
  if (keys.length === 0) throw new KeyConfigError(variable, 'holds no key');
  const store = jose.JWK.createKeyStore();
  let active: jose.JWK.Key | undefined;
  for (const k of keys) {
    if (!k || k.kty !== 'oct' || typeof k.k !== 'string' || Buffer.from(k.k, 'base64url').length !== 32) {
      throw new KeyConfigError(variable, 'must hold 256-bit symmetric JWKs ({"kty":"oct","k":"<32 bytes, base64url>"})');
    }
    const key = await store.add({ kty: 'oct', k: k.k, alg: 'A256KW', use: 'enc', kid: typeof k.kid === 'string' && k.kid ? k.kid : kekKid(k.k) });
    active ??= key;
  }
  return { active: active as jose.JWK.Key, all: store, ...(file ? { file } : {}) };
}

/**
 * Refuses a key file that anyone but its owner may read or write (any of the group's or
 * others' permission bits set), as ssh does with private keys: whoever can read it can open
 * every sealed field, whoever can write it can swap the key. Checked before the file is read.
 * POSIX permissions only (on Windows the mode bits say nothing about ACLs).
 */
export async function assertPrivate(path: string, variable: string): Promise<void> {
  if (process.platform === 'win32') return;
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch {
    return; // the read that follows names what is wrong (ENOENT, EACCES)
  }
  if ((mode & 0o077) !== 0) {
    throw new KeyConfigError(
      variable,
      `names a key file that group or others may access (mode ${(mode & 0o777).toString(8).padStart(4, '0')}: ${path}); it must be readable by its owner only: chmod 600 it (Kubernetes: defaultMode 0400 on the secret volume)`,
    );
  }
}

/**
 * Opens the KEK ring, or stops the process with a message naming the variable: distributed
 * mode needs KEK_FILE or KEK; embedded mode makes one in its data folder on first start
 * (0600) and says once that this is for development. A key file group or others may access
 * is refused.
 */
export async function openKek(source: KekSource, warn: (message: string) => void): Promise<KekRing> {
  switch (source.kind) {
    case 'none':
      throw new KeyConfigError('KEK_FILE', 'or KEK is required in distributed mode: the key-encryption key (a 256-bit JWK file, or 32 bytes in base64url)');
    case 'inline': {
      const raw = Buffer.from(source.base64url, 'base64url');
      if (raw.length !== 32 || raw.toString('base64url') !== source.base64url.replace(/=+$/, '')) throw new KeyConfigError('KEK', 'must be 32 bytes in base64url (43 characters)');
      const key = await octKek(raw);
      const store = jose.JWK.createKeyStore();
      await store.add(key);
      return { active: key, all: store };
    }
    case 'file': {
      await assertPrivate(source.path, 'KEK_FILE');
      let text: string;
      try {
        text = await readFile(source.path, 'utf8');
      } catch (e) {
        throw new KeyConfigError('KEK_FILE', `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}: ${source.path})`);
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new KeyConfigError('KEK_FILE', `is not JSON (${source.path})`);
      }
      return ringOf(json, 'KEK_FILE');
    }
    case 'generated': {
      await assertPrivate(source.path, 'DATA_DIR');
      let text: string | undefined;
      try {
        text = await readFile(source.path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyConfigError('DATA_DIR', `holds a KEK file that cannot be read (${(e as NodeJS.ErrnoException).code}: ${source.path})`);
      }
      if (text !== undefined) {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new KeyConfigError('DATA_DIR', `holds a KEK file that is not JSON (${source.path}); restore it from backup: without it no personal field can be read`);
        }
        return ringOf(json, 'DATA_DIR', source.path);
      }
      const key = await octKek(newKekBytes());
      await writeRing(source.path, [key]);
      warn(`embedded mode generated a key-encryption key at ${source.path}: for development only; in production give KEK_FILE or KEK, kept apart from the data`);
      const store = jose.JWK.createKeyStore();
      await store.add(key);
      return { active: key, all: store, file: source.path };
    }
    case 'memory': {
      const key = await octKek(newKekBytes());
      const store = jose.JWK.createKeyStore();
      await store.add(key);
      return { active: key, all: store };
    }
  }
}

export async function writeRing(path: string, keys: readonly jose.JWK.Key[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify({ keys: keys.map((k) => k.toJSON(true)) })}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}
