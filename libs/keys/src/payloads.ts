import { canonicalJson, type EventSealer, type NewEvent, SEALED_MEMBER } from '@custos/event-store';
import { UnavailableError } from '@custos/errors';
import jose from 'node-jose';
import { decryptDirA256Gcm, encryptDirA256Gcm } from './jwe.js';
import type { KeyService, RawDataKeyLookup } from './key-service.js';

/** Event type → its personal fields, as each context declares them next to its event types. */
export type PersonalSchema = Readonly<Record<string, readonly string[]>>;

/** The member of a stored event's data that holds its personal fields, sealed. */
export const SEALED = SEALED_MEMBER;

/** How a personal field reads to someone not entitled to it, and after erasure. */
export const REDACTED = Object.freeze({ redacted: true });
export const ERASED = Object.freeze({ erased: true });

/** The protected header of a sealed part: which key, and which fields (names are not personal). */
interface SealedHeader {
  readonly kid: string;
  readonly fields: readonly string[];
}

/**
 * Seals and opens the personal part of events.
 *
 * Sealing (on append, before the hash chain sees the event): the personal fields present in
 * `data` move into one compact JWE (`dir` + A256GCM, written with node:crypto on this hot
 * path, see jwe.ts; opened with node:crypto too, node-jose for any other form) under the data key of the
 * event's patient (`metadata.patientId`), or of its context for events without one; `kid`
 * names the data key and `fields` the fields inside. The clear part stays queryable. The
 * stored, hashed, published and projected event is the sealed one.
 *
 * Opening: the fields come back in clear, or each reads `{"erased": true}` once the data key
 * was destroyed. Redacting: each reads `{"redacted": true}` without touching a key. Opened
 * parts are kept in a bounded cache (the cost of node-jose is paid once per part), and every
 * open first asks the key service whether the key still exists, so erasure shows at once in
 * this process (other processes: within the key cache's lifetime, 30 s by default).
 */
export class PayloadCipher implements EventSealer {
  private readonly opened = new Map<string, Record<string, unknown>>();

  constructor(
    private readonly keys: KeyService,
    private readonly schema: PersonalSchema,
    private readonly maxCached = 10_000,
  ) {}

  sealable(event: NewEvent): boolean {
    const fields = this.schema[event.type];
    if (!fields || !isRecord(event.data)) return false;
    const data = event.data;
    return fields.some((f) => data[f] !== undefined);
  }

  async seal(streamId: string, event: NewEvent): Promise<NewEvent> {
    if (!this.sealable(event)) return event;
    const fields = this.schema[event.type] as readonly string[];
    const data = { ...(event.data as Record<string, unknown>) };
    const personal: Record<string, unknown> = {};
    for (const f of fields) {
      if (data[f] === undefined) continue;
      personal[f] = data[f];
      delete data[f];
    }
    const owner = event.metadata.patientId ?? (typeof data.patientId === 'string' ? data.patientId : `context:${streamId.split('-', 1)[0]}`);
    const { kid, key } = await this.keys.dataKeyFor(owner);
    const header = { alg: 'dir', enc: 'A256GCM', kid, fields: Object.keys(personal), cty: 'custos-personal+json' };
    const jwe = encryptDirA256Gcm(rawOf(key), header, Buffer.from(canonicalJson(personal as never), 'utf8'));
    return { ...event, data: { ...data, [SEALED]: jwe } };
  }

  /** Whether a stored event carries a sealed part. */
  static isSealed(event: { data: unknown }): boolean {
    return isRecord(event.data) && typeof event.data[SEALED] === 'string';
  }

  /** The event with its personal fields in clear (or `{"erased": true}` where the key is gone). */
  async open<T extends { data: unknown }>(event: T): Promise<T> {
    if (!PayloadCipher.isSealed(event)) return event;
    const data = event.data as Record<string, unknown>;
    const jwe = data[SEALED] as string;
    const header = headerOf(jwe);
    const { [SEALED]: _sealed, ...clear } = data;
    const lookup = await this.keys.dataKey(header.kid);
    if ('destroyed' in lookup) {
      this.opened.delete(jwe);
      return { ...event, data: { ...clear, ...Object.fromEntries(header.fields.map((f) => [f, ERASED])) } };
    }
    let personal = this.opened.get(jwe);
    if (!personal) {
      personal = await openPart(rawOf(lookup.key), () => lookup.key, jwe, header.kid);
      if (this.opened.size >= this.maxCached) this.opened.delete(this.opened.keys().next().value as string);
      this.opened.set(jwe, personal);
    }
    return { ...event, data: { ...clear, ...personal } };
  }

  /**
   * Many events opened at once (a report over a dataset): their data keys are read in bulk
   * (`KeyService.dataKeys`: one query per 5,000 kids, unwrapped with node:crypto) and used for
   * this call only, neither through the bounded key cache nor into the cache of opened parts,
   * so a report over more patients than either cache holds does not evict what requests need.
   * The bulk read is the "does the key still exist" question, asked once for the whole call:
   * a key destroyed before it reads `{"erased": true}`. A kid the key table does not hold is
   * an UnavailableError, as for `open`. Same order as `events`.
   */
  async openMany<T extends { data: unknown }>(events: readonly T[]): Promise<T[]> {
    const kids = new Set<string>();
    for (const e of events) if (PayloadCipher.isSealed(e)) kids.add(headerOf((e.data as Record<string, unknown>)[SEALED] as string).kid);
    const keys = kids.size > 0 ? await this.keys.dataKeys([...kids]) : new Map<string, RawDataKeyLookup>();
    const out: T[] = [];
    for (const event of events) {
      if (!PayloadCipher.isSealed(event)) {
        out.push(event);
        continue;
      }
      const data = event.data as Record<string, unknown>;
      const jwe = data[SEALED] as string;
      const header = headerOf(jwe);
      const { [SEALED]: _sealed, ...clear } = data;
      const lookup = keys.get(header.kid);
      if (!lookup) {
        out.push(await this.open(event)); // not in the key table: dataKey refuses it as it does for one event
        continue;
      }
      if ('destroyed' in lookup) {
        this.opened.delete(jwe);
        out.push({ ...event, data: { ...clear, ...Object.fromEntries(header.fields.map((f) => [f, ERASED])) } });
        continue;
      }
      const personal = await openPart(lookup.raw, () => asDataKey(lookup.raw, lookup.kid), jwe, header.kid);
      out.push({ ...event, data: { ...clear, ...personal } });
    }
    return out;
  }

  /** The event with each personal field as `{"redacted": true}`: no key is used. */
  redact<T extends { data: unknown }>(event: T): T {
    return redact(event);
  }

  /**
   * Field by field: each personal field `allowed` says the reader may see is opened, every
   * other one reads `{"redacted": true}`; no key is touched when none is allowed.
   */
  async reveal<T extends { data: unknown; type?: string }>(event: T, allowed: (field: string) => boolean): Promise<T> {
    if (!PayloadCipher.isSealed(event)) {
      // Written before sealing: in clear in the log, but shown by the same rules.
      const fields = event.type ? this.schema[event.type] : undefined;
      if (!fields || !isRecord(event.data)) return event;
      const data = { ...event.data };
      for (const f of fields) if (data[f] !== undefined && !allowed(f)) data[f] = REDACTED;
      return { ...event, data };
    }
    const fields = headerOf((event.data as Record<string, unknown>)[SEALED] as string).fields;
    if (!fields.some(allowed)) return redact(event);
    const opened = await this.open(event);
    const data = { ...(opened.data as Record<string, unknown>) };
    for (const f of fields) if (!allowed(f)) data[f] = REDACTED;
    return { ...opened, data };
  }

  /** The fields inside one sealed part (as stored in a read model), opened. */
  async openSealed(jwe: string): Promise<Record<string, unknown>> {
    return (await this.open({ data: { [SEALED]: jwe } })).data as Record<string, unknown>;
  }

  /** Forgets opened parts (erasure calls it after destroying keys). */
  forgetOpened(): void {
    this.opened.clear();
  }
}

/** The event with each sealed field as `{"redacted": true}`. Needs no key. */
export function redact<T extends { data: unknown }>(event: T): T {
  if (!PayloadCipher.isSealed(event)) return event;
  const data = event.data as Record<string, unknown>;
  const header = headerOf(data[SEALED] as string);
  const { [SEALED]: _sealed, ...clear } = data;
  return { ...event, data: { ...clear, ...Object.fromEntries(header.fields.map((f) => [f, REDACTED])) } };
}

/** A sealed part's fields: node:crypto for the form Custos writes (dir + A256GCM, kid checked); node-jose for anything else. */
async function openPart(raw: Buffer, key: () => jose.JWK.Key | Promise<jose.JWK.Key>, jwe: string, kid: string): Promise<Record<string, unknown>> {
  try {
    const plaintext = decryptDirA256Gcm(raw, jwe, kid) ?? (await jose.JWE.createDecrypt(await key()).decrypt(jwe)).plaintext;
    return JSON.parse(plaintext.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new UnavailableError('a sealed part of an event does not open under its data key', 'key-unavailable');
  }
}

/** A node-jose key object for raw data key bytes (only for a part not of the form Custos writes). */
async function asDataKey(raw: Buffer, kid: string): Promise<jose.JWK.Key> {
  const key = await jose.JWK.asKey({ kty: 'oct', k: raw.toString('base64url'), alg: 'A256GCM', use: 'enc', kid });
  raws.set(key, raw);
  return key;
}

const raws = new WeakMap<jose.JWK.Key, Buffer>();

/** The 32 bytes of a data key (kept beside the unwrapped key object). */
function rawOf(key: jose.JWK.Key): Buffer {
  let raw = raws.get(key);
  if (!raw) {
    raw = Buffer.from((key.toJSON(true) as { k: string }).k, 'base64url');
    raws.set(key, raw);
  }
  return raw;
}

function headerOf(jwe: string): SealedHeader {
  try {
    const header = JSON.parse(Buffer.from(jwe.split('.', 1)[0] as string, 'base64url').toString('utf8')) as Partial<SealedHeader>;
    if (typeof header.kid === 'string' && Array.isArray(header.fields) && header.fields.every((f) => typeof f === 'string')) return { kid: header.kid, fields: header.fields };
  } catch {
    /* below */
  }
  throw new UnavailableError('a sealed part of an event has a malformed header', 'key-unavailable');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

