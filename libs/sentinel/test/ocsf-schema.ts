import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A validator for OCSF objects from the schema's own definitions (testdata/ocsf-1.8.0): the
 * class by class_uid, its attributes through `extends` (profiles left out: Custos claims
 * none), every required attribute present, no attribute the class does not define, types
 * from the dictionary (scalars, arrays, nested objects, recursively), enum values, the
 * objects' at-least-one constraints, and type_uid = class_uid * 100 + activity_id.
 */
const ROOT = join(import.meta.dirname, '../testdata/ocsf-1.8.0');

interface AttrDef {
  type?: string;
  is_array?: boolean;
  requirement?: string;
  enum?: Record<string, unknown>;
}
interface Definition {
  name: string;
  uid?: number;
  extends?: string;
  attributes: Record<string, AttrDef | string[]>;
  constraints?: { at_least_one?: string[]; just_one?: string[] };
}

const read = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Definition;
const dictionary = JSON.parse(readFileSync(join(ROOT, 'dictionary.json'), 'utf8')) as { attributes: Record<string, AttrDef>; types: { attributes: Record<string, { type?: string; regex?: string }> } };
const categories = JSON.parse(readFileSync(join(ROOT, 'categories.json'), 'utf8')) as { attributes: Record<string, { uid: number }> };

function findClass(classUid: number): { path: string; category: number } | null {
  for (const [name, cat] of Object.entries(categories.attributes)) {
    if (Math.floor(classUid / 1000) !== cat.uid) continue;
    for (const dir of [name, name.replace(/s$/, ''), 'findings', 'application']) {
      const folder = join(ROOT, 'events', dir);
      if (!existsSync(folder)) continue;
      for (const file of readdir(folder)) {
        const d = read(join('events', dir, file));
        if (d.uid !== undefined && cat.uid * 1000 + d.uid === classUid) return { path: join('events', dir, file), category: cat.uid };
      }
    }
  }
  return null;
}

function readdir(folder: string): string[] {
  return readdirSync(folder).filter((f) => f.endsWith('.json'));
}

function merged(path: string): { attributes: Record<string, AttrDef>; constraints: Definition['constraints'] } {
  const d = read(path);
  let base: { attributes: Record<string, AttrDef>; constraints: Definition['constraints'] } = { attributes: {}, constraints: undefined };
  if (d.extends) {
    const folder = path.split('/').slice(0, -1).join('/');
    const candidates = [join(folder, `${d.extends}.json`), join('events', `${d.extends}.json`), join('objects', `${d.extends}.json`)];
    const found = candidates.find((c) => existsSync(join(ROOT, c)));
    if (found) base = merged(found);
  }
  const attributes = { ...base.attributes };
  for (const [k, v] of Object.entries(d.attributes)) {
    if (k === '$include') continue;
    const prev = attributes[k] ?? {};
    const next = v as AttrDef;
    attributes[k] = { ...prev, ...next, ...(prev.enum || next.enum ? { enum: { ...(prev.enum ?? {}), ...(next.enum ?? {}) } } : {}) };
  }
  return { attributes, constraints: d.constraints ?? base.constraints };
}

/** The profiles a class includes, through its `extends` chain. */
function includesOf(path: string): Set<string> {
  const d = read(path);
  const out = new Set<string>();
  const inc = d.attributes.$include;
  if (Array.isArray(inc)) for (const p of inc) if (p.startsWith('profiles/')) out.add(p.slice('profiles/'.length, -'.json'.length));
  if (d.extends) {
    const folder = path.split('/').slice(0, -1).join('/');
    const found = [join(folder, `${d.extends}.json`), join('events', `${d.extends}.json`)].find((c) => existsSync(join(ROOT, c)));
    if (found) for (const p of includesOf(found)) out.add(p);
  }
  return out;
}

const SCALARS: Record<string, (v: unknown) => boolean> = {
  string_t: (v) => typeof v === 'string',
  integer_t: (v) => Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31,
  long_t: (v) => Number.isInteger(v),
  float_t: (v) => typeof v === 'number' && Number.isFinite(v),
  boolean_t: (v) => typeof v === 'boolean',
  json_t: () => true,
};

function scalarOk(type: string, v: unknown): boolean {
  if (SCALARS[type]) return (SCALARS[type] as (v: unknown) => boolean)(v);
  const t = dictionary.types.attributes[type];
  if (!t) return false;
  if (t.type && !scalarOk(t.type, v)) return false;
  if (type === 'timestamp_t') return Number.isInteger(v) && (v as number) > 0;
  if (t.regex && typeof v === 'string' && !new RegExp(t.regex).test(v)) return false;
  return true;
}

function validateObject(value: unknown, attributes: Record<string, AttrDef>, constraints: Definition['constraints'], at: string, errors: string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    errors.push(`${at}: not an object`);
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const [k, def] of Object.entries(attributes)) if (def.requirement === 'required' && obj[k] === undefined) errors.push(`${at}.${k}: required`);
  if (constraints?.at_least_one && !constraints.at_least_one.some((k) => obj[k] !== undefined)) errors.push(`${at}: needs at least one of ${constraints.at_least_one.join(', ')}`);
  for (const [k, v] of Object.entries(obj)) {
    const local = attributes[k];
    if (!local) {
      errors.push(`${at}.${k}: not an attribute of this class or object`);
      continue;
    }
    const dict = dictionary.attributes[k] ?? {};
    const def: AttrDef = { ...dict, ...local, enum: { ...(dict.enum ?? {}), ...(local.enum ?? {}) } };
    const values = def.is_array ? (Array.isArray(v) ? v : (errors.push(`${at}.${k}: not an array`), [])) : [v];
    values.forEach((item, i) => {
      const where = def.is_array ? `${at}.${k}[${i}]` : `${at}.${k}`;
      const type = def.type ?? 'string_t';
      if (type === 'object') {
        // `unmapped` and other free-form objects: any JSON object.
        if (typeof item !== 'object' || item === null || Array.isArray(item)) errors.push(`${where}: not an object`);
      } else if (existsSync(join(ROOT, 'objects', `${type}.json`))) {
        const o = merged(join('objects', `${type}.json`));
        validateObject(item, o.attributes, o.constraints, where, errors);
      } else if (!scalarOk(type, item)) errors.push(`${where}: not a ${type}`);
      else if (def.enum && Object.keys(def.enum).length > 0 && k.endsWith('_id') && !(String(item) in def.enum)) errors.push(`${where}: ${String(item)} is not one of ${Object.keys(def.enum).join(', ')}`);
    });
  }
}

/** The problems with `event` as an OCSF 1.8.0 event (empty: valid). */
export function ocsfProblems(event: Record<string, unknown>): string[] {
  const classUid = event.class_uid;
  if (typeof classUid !== 'number') return ['class_uid: missing'];
  const found = findClass(classUid);
  if (!found) return [`class_uid ${classUid}: no such class`];
  const { attributes: own, constraints } = merged(found.path);
  const errors: string[] = [];
  // Profiles the event claims (metadata.profiles) add their attributes, where the class includes them.
  const attributes = { ...own };
  const included = includesOf(found.path);
  for (const profile of ((event.metadata as { profiles?: unknown } | undefined)?.profiles as string[] | undefined) ?? []) {
    if (!included.has(profile)) {
      errors.push(`metadata.profiles: ${profile} is not a profile of this class`);
      continue;
    }
    for (const [k, v] of Object.entries(read(join('profiles', `${profile}.json`)).attributes)) if (k !== '$include') attributes[k] = { ...(attributes[k] ?? {}), ...(v as AttrDef) };
  }
  validateObject(event, attributes, constraints, '$', errors);
  if (event.category_uid !== found.category) errors.push(`category_uid: ${String(event.category_uid)} is not ${found.category}`);
  if (event.type_uid !== classUid * 100 + (event.activity_id as number)) errors.push('type_uid: not class_uid * 100 + activity_id');
  if ((event.metadata as { version?: unknown } | undefined)?.version !== '1.8.0') errors.push('metadata.version: not 1.8.0');
  return errors;
}
