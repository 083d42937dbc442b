import type { DomainEvent } from '@custos/decider';

/** Turns the data of one schema version into the next version's shape. */
export type Upcaster = (data: unknown) => unknown;

export interface EventTypeSpec {
  /** The schema version written today. */
  readonly version: number;
  /** `upcast[v]` turns version v into v + 1; every version below `version` needs one. */
  readonly upcast?: Readonly<Record<number, Upcaster>>;
}

/** What is written for one domain event: its type, schema version and data. */
export interface EncodedEvent {
  readonly type: string;
  readonly schemaVersion: number;
  readonly data: unknown;
}

/**
 * The codec of one context's events: which schema version each type is written at, and how
 * older versions read (upcast on read, never rewritten: the log is immutable). The command
 * shell encodes and decodes through it, and so will encryption of personal fields.
 */
export interface EventCodec<E extends DomainEvent> {
  readonly types: readonly string[];
  encode(event: E): EncodedEvent;
  decode(stored: EncodedEvent): E;
  /** Whether this codec knows events of `type`. */
  knows(type: string): boolean;
}

export function eventCodec<E extends DomainEvent>(spec: { readonly [K in E['type']]: EventTypeSpec }): EventCodec<E> {
  const table = spec as Readonly<Record<string, EventTypeSpec>>;
  return {
    types: Object.keys(table),
    knows: (type) => Object.prototype.hasOwnProperty.call(table, type),
    encode(event) {
      const s = table[event.type];
      if (!s) throw new Error(`event type ${event.type} has no schema`);
      return { type: event.type, schemaVersion: s.version, data: event.data };
    },
    decode(stored) {
      const s = table[stored.type];
      if (!s) throw new Error(`event type ${stored.type} is not one this codec reads`);
      if (stored.schemaVersion > s.version) throw new Error(`${stored.type} v${stored.schemaVersion} was written by a newer release (this one reads up to v${s.version})`);
      let data = stored.data;
      for (let v = stored.schemaVersion; v < s.version; v++) {
        const up = s.upcast?.[v];
        if (!up) throw new Error(`${stored.type} has no upcaster from v${v}`);
        data = up(data);
      }
      return { type: stored.type, data } as E;
    },
  };
}
