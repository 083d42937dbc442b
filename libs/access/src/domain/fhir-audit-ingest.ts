import { createHash } from 'node:crypto';
import { PURPOSE_CODES, PURPOSES } from '@custos/vocabulary';
import type { AccessReportedData, ReportedAgent, ReportedCoding, ReportedEntity, ReportedNarrative, ReportedReference } from './access.events.js';

/**
 * Reading other systems' FHIR R4 AuditEvents (IHE Basic Audit Log Patterns) into
 * AccessReported events: the shape checked against R4's cardinalities and Custos' own limits,
 * every problem named by its FHIR path (`Bundle.entry[3].resource.recorded`), and the event
 * mapped. Pure: no framework, no I/O; the time the checks need comes in.
 *
 * Kept, in clear: ids, codes, references and identifiers (what audits query). Sealed (the
 * event's `narrative`): outcomeDesc, agents' `who.display` and `name`, entities' `what.display`,
 * `name` and `description`. Dropped: `entity.query` (a base64 copy of the request, which may
 * carry names and search terms), `entity.detail` (free values), `agent.network` (addresses),
 * `agent.altId`, `agent.location`, `agent.policy`, `purposeOfEvent.text`, `text` (the narrative
 * HTML) and extensions; they are checked for shape and size all the same.
 */

/** What an ingest accepts at most. The gateway's body limit (1 MB) comes first. */
export const INGEST_LIMITS = {
  entries: 1000,
  agents: 50,
  entities: 100,
  codings: 20,
  /** Characters of any string but `entity.query`. */
  string: 4096,
  /** Characters of `entity.query` (base64). */
  query: 65_536,
  /** Levels of nesting inside one AuditEvent. */
  depth: 16,
  /** Issues reported at most (the rest are counted). */
  issues: 100,
  /** How far in the future `recorded` may be (clock skew between systems). */
  futureMs: 24 * 3600 * 1000,
} as const;

/** The earliest `recorded` taken: no system reported accesses to Custos before 1970. */
const EARLIEST_RECORDED = Date.UTC(1970, 0, 1);

/** An OperationOutcome issue: FHIR issue-type codes. */
export interface IngestIssue {
  readonly severity: 'error';
  readonly code: 'invalid' | 'structure' | 'required' | 'value' | 'too-long' | 'too-costly';
  readonly diagnostics: string;
  readonly expression: readonly string[];
}

/** A Custos patient id. */
export const PATIENT_ID = /^[A-Za-z0-9._-]{1,100}$/;
/** A FHIR id. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** A FHIR instant: seconds required, a time zone required. */
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;
const ACTIONS = ['C', 'R', 'U', 'D', 'E'] as const;
const OUTCOMES = ['0', '4', '8', '12'] as const;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** A FHIR reference: relative (`Type/id`, versioned or not), absolute, contained (`#id`) or a URN. */
const REFERENCE = /^(#[A-Za-z0-9\-.]{1,64}|urn:(uuid|oid):[A-Za-z0-9\-.:]{1,128}|([a-z][a-z0-9+.-]*:\/\/[^\s/?#]+(\/[^\s/?#]+)*\/)?[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?)$/;
const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;

/** One AuditEvent as read, not yet tied to a source. */
export type ParsedAuditEvent = Omit<AccessReportedData, 'source' | 'actorId'> & {
  readonly observer: ReportedReference;
  readonly site: string | null;
  /** The requesting agent's identity as the source names it (qualified by the source when recorded). */
  readonly who: string;
};

export interface ParsedIngest {
  /** What was posted: one AuditEvent, or a Bundle of type batch or transaction. */
  readonly kind: 'AuditEvent' | 'batch' | 'transaction';
  /** One per AuditEvent, with its FHIR path (`AuditEvent`, `Bundle.entry[2].resource`). */
  readonly entries: ReadonlyArray<{ readonly path: string; readonly event: ParsedAuditEvent }>;
}

/**
 * What names a Custos patient in an AuditEvent. Another system's patient id is another
 * domain's patient (the DICOM rule for an IssuerOfPatientID): an identifier of another system,
 * or an absolute Patient reference to another FHIR server, is refused rather than filed
 * under the Custos patient that happens to have the same id.
 */
export interface PatientDomain {
  /** Identifier systems whose values are Custos patient ids; an identifier without a system is taken too. */
  readonly systems: readonly string[];
  /** Absolute FHIR bases (no trailing slash) whose `Patient/<id>` references are Custos patients; relative references always are. */
  readonly fhirBases: readonly string[];
}

/** The defaults: Custos' own patient-id system (the one its trail's FHIR form writes), no absolute base. */
export const DEFAULT_PATIENT_DOMAIN: PatientDomain = { systems: ['https://custos.dev/fhir/patient-id'], fhirBases: [] };

export type IngestParse = { readonly ok: true; readonly value: ParsedIngest } | { readonly ok: false; readonly issues: readonly IngestIssue[] };

type Json = Record<string, unknown>;

class Issues {
  readonly list: IngestIssue[] = [];
  private dropped = 0;
  add(code: IngestIssue['code'], path: string, diagnostics: string): void {
    if (this.list.length < INGEST_LIMITS.issues) this.list.push({ severity: 'error', code, diagnostics, expression: [path] });
    else this.dropped += 1;
  }
  get count(): number {
    return this.list.length + this.dropped;
  }
  all(): IngestIssue[] {
    return this.dropped > 0 ? [...this.list, { severity: 'error', code: 'too-costly', diagnostics: `${this.dropped} more issues not listed`, expression: ['Bundle'] }] : this.list;
  }
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a POSTed body: one AuditEvent, or a batch/transaction Bundle of them. `now` bounds `recorded`. */
export function parseIngest(body: unknown, now: Date, domain: PatientDomain = DEFAULT_PATIENT_DOMAIN): IngestParse {
  const issues = new Issues();
  if (!isObject(body)) {
    issues.add('structure', '$', 'the body must be a FHIR resource (a JSON object)');
    return { ok: false, issues: issues.all() };
  }
  if (body.resourceType === 'AuditEvent') {
    const event = readAuditEvent(body, 'AuditEvent', now, issues, domain);
    return event && issues.count === 0 ? { ok: true, value: { kind: 'AuditEvent', entries: [{ path: 'AuditEvent', event }] } } : { ok: false, issues: issues.all() };
  }
  if (body.resourceType !== 'Bundle') {
    issues.add('invalid', 'resourceType', 'resourceType must be AuditEvent or Bundle');
    return { ok: false, issues: issues.all() };
  }
  checkTree(body, 'Bundle', 0, issues, INGEST_LIMITS.depth + 4);
  const type = body.type;
  if (type !== 'batch' && type !== 'transaction') issues.add(type === undefined ? 'required' : 'value', 'Bundle.type', 'Bundle.type must be batch or transaction');
  const entry = body.entry;
  if (!Array.isArray(entry) || entry.length === 0) {
    issues.add(entry === undefined ? 'required' : 'structure', 'Bundle.entry', 'Bundle.entry must be a non-empty array of entries');
    return { ok: false, issues: issues.all() };
  }
  if (entry.length > INGEST_LIMITS.entries) {
    issues.add('too-costly', 'Bundle.entry', `at most ${INGEST_LIMITS.entries} entries per Bundle`);
    return { ok: false, issues: issues.all() };
  }
  const entries: Array<{ path: string; event: ParsedAuditEvent }> = [];
  const seen = new Map<string, number>();
  entry.forEach((e: unknown, i) => {
    const at = `Bundle.entry[${i}]`;
    if (!isObject(e)) return issues.add('structure', at, 'an entry must be an object');
    const request = e.request;
    if (request !== undefined) {
      if (!isObject(request)) issues.add('structure', `${at}.request`, 'request must be an object');
      else {
        if (request.method !== 'POST') issues.add('value', `${at}.request.method`, 'request.method must be POST');
        if (typeof request.url !== 'string' || !/^AuditEvent\/?$/.test(request.url)) issues.add('value', `${at}.request.url`, 'request.url must be AuditEvent');
      }
    }
    const resource = e.resource;
    if (!isObject(resource)) return issues.add(resource === undefined ? 'required' : 'structure', `${at}.resource`, 'an entry must hold an AuditEvent resource');
    if (resource.resourceType !== 'AuditEvent') return issues.add('invalid', `${at}.resource.resourceType`, 'each entry must be an AuditEvent');
    const event = readAuditEvent(resource, `${at}.resource`, now, issues, domain);
    if (!event) return;
    const first = seen.get(event.auditEventId);
    if (first !== undefined) return issues.add('value', `${at}.resource.id`, `the same AuditEvent id as Bundle.entry[${first}]`);
    seen.set(event.auditEventId, i);
    entries.push({ path: `${at}.resource`, event });
  });
  if (issues.count > 0) return { ok: false, issues: issues.all() };
  return { ok: true, value: { kind: type as 'batch' | 'transaction', entries } };
}

/**
 * Shape that holds anywhere in a resource: no null (FHIR JSON has none), no key that could
 * rewrite a prototype, strings within the cap, nesting within the cap.
 */
function checkTree(value: unknown, path: string, depth: number, issues: Issues, maxDepth: number): void {
  if (depth > maxDepth) return issues.add('structure', path, `nested deeper than ${maxDepth} levels`);
  if (value === null) return issues.add('invalid', path, 'null is not a FHIR value: leave the element out');
  if (typeof value === 'string') {
    const cap = path.endsWith('.query') ? INGEST_LIMITS.query : INGEST_LIMITS.string;
    if (value.length > cap) issues.add('too-long', path, `longer than ${cap} characters`);
    return;
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return issues.add('invalid', path, 'an empty array is not a FHIR value: leave the element out');
    if (value.length > INGEST_LIMITS.entries) return issues.add('too-costly', path, `more than ${INGEST_LIMITS.entries} items`);
    value.forEach((v, i) => checkTree(v, `${path}[${i}]`, depth + 1, issues, maxDepth));
    return;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Json)) {
      if (FORBIDDEN_KEYS.has(k)) {
        issues.add('invalid', `${path}`, `a key "${k}" is refused`);
        continue;
      }
      // Entries of a Bundle are checked as resources, with their own depth.
      if (path === 'Bundle' && k === 'entry') continue;
      checkTree(v, `${path}.${k}`, depth + 1, issues, maxDepth);
    }
  }
}

function readAuditEvent(r: Json, path: string, now: Date, issues: Issues, domain: PatientDomain): ParsedAuditEvent | undefined {
  const before = issues.count;
  checkTree(r, path, 0, issues, INGEST_LIMITS.depth);
  if (issues.count > before) return undefined; // junk: no point reading it further
  const at = (k: string) => `${path}.${k}`;

  const id = r.id;
  if (id === undefined) issues.add('required', at('id'), 'an AuditEvent needs an id: it is what makes a retry a duplicate');
  else if (typeof id !== 'string' || !FHIR_ID.test(id)) issues.add('value', at('id'), 'id must be a FHIR id ([A-Za-z0-9-.]{1,64})');

  const type = r.type === undefined ? (issues.add('required', at('type'), 'type is required (1..1)'), undefined) : coding(r.type, at('type'), issues);
  const subtype = list(r.subtype, at('subtype'), issues, INGEST_LIMITS.codings, (v, p) => coding(v, p, issues));

  let action: ParsedAuditEvent['action'] = null;
  if (r.action !== undefined) {
    if (typeof r.action === 'string' && (ACTIONS as readonly string[]).includes(r.action)) action = r.action as ParsedAuditEvent['action'];
    else issues.add('value', at('action'), 'action must be one of C, R, U, D, E');
  }

  let recorded: string | undefined;
  if (r.recorded === undefined) issues.add('required', at('recorded'), 'recorded is required (1..1)');
  else recorded = instant(r.recorded, at('recorded'), now, issues);

  let outcome: ParsedAuditEvent['outcome'] = null;
  if (r.outcome !== undefined) {
    if (typeof r.outcome === 'string' && (OUTCOMES as readonly string[]).includes(r.outcome)) outcome = r.outcome as ParsedAuditEvent['outcome'];
    else issues.add('value', at('outcome'), 'outcome must be one of 0, 4, 8, 12');
  }
  const outcomeDesc = optionalString(r.outcomeDesc, at('outcomeDesc'), issues);

  const purposes: ReportedCoding[] = [];
  for (const concept of list(r.purposeOfEvent, at('purposeOfEvent'), issues, INGEST_LIMITS.codings, (v, p) => codeable(v, p, issues))) purposes.push(...concept);

  // agent 1..*, each with requestor 1..1.
  const narrative: { agents: Array<{ index: number; display?: string; name?: string }>; entities: Array<{ index: number; display?: string; name?: string; description?: string }> } = { agents: [], entities: [] };
  const agents: ReportedAgent[] = [];
  let requestorWho: string | undefined;
  let firstWho: string | undefined;
  if (r.agent === undefined) issues.add('required', at('agent'), 'an AuditEvent needs at least one agent (1..*)');
  else if (!Array.isArray(r.agent)) issues.add('structure', at('agent'), 'agent must be an array');
  else if (r.agent.length > INGEST_LIMITS.agents) issues.add('too-costly', at('agent'), `at most ${INGEST_LIMITS.agents} agents`);
  else {
    r.agent.forEach((a: unknown, i) => {
      const ap = `${at('agent')}[${i}]`;
      if (!isObject(a)) return issues.add('structure', ap, 'an agent must be an object');
      let requestor = false;
      if (a.requestor === undefined) issues.add('required', `${ap}.requestor`, 'agent.requestor is required (1..1)');
      else if (typeof a.requestor !== 'boolean') issues.add('value', `${ap}.requestor`, 'agent.requestor must be true or false');
      else requestor = a.requestor;
      const whoRef = a.who === undefined ? null : reference(a.who, `${ap}.who`, issues);
      const typeCodes = a.type === undefined ? [] : codeable(a.type, `${ap}.type`, issues);
      const roles = list(a.role, `${ap}.role`, issues, INGEST_LIMITS.codings, (v, p) => codeable(v, p, issues)).flat();
      for (const concept of list(a.purposeOfUse, `${ap}.purposeOfUse`, issues, INGEST_LIMITS.codings, (v, p) => codeable(v, p, issues))) purposes.push(...concept);
      const display = isObject(a.who) ? optionalString(a.who.display, `${ap}.who.display`, issues) : undefined;
      const name = optionalString(a.name, `${ap}.name`, issues);
      if (display !== undefined || name !== undefined) narrative.agents.push({ index: i, ...(display !== undefined ? { display } : {}), ...(name !== undefined ? { name } : {}) });
      agents.push({ who: whoRef ? stripped(whoRef) : null, requestor, type: typeCodes, roles });
      const who = whoOf(whoRef, display);
      if (requestor && requestorWho === undefined) requestorWho = who;
      firstWho ??= who;
    });
  }

  // source 1..1 with observer 1..1.
  let observer: ReportedReference | undefined;
  let site: string | null = null;
  if (r.source === undefined) issues.add('required', at('source'), 'source is required (1..1)');
  else if (!isObject(r.source)) issues.add('structure', at('source'), 'source must be an object');
  else {
    if (r.source.observer === undefined) issues.add('required', at('source.observer'), 'source.observer is required (1..1)');
    else observer = reference(r.source.observer, at('source.observer'), issues) ?? undefined;
    site = optionalString(r.source.site, at('source.site'), issues) ?? null;
    list(r.source.type, at('source.type'), issues, INGEST_LIMITS.codings, (v, p) => coding(v, p, issues));
  }

  const entities: ReportedEntity[] = [];
  const patients = new Map<string, string>();
  if (r.entity !== undefined) {
    if (!Array.isArray(r.entity)) issues.add('structure', at('entity'), 'entity must be an array');
    else if (r.entity.length > INGEST_LIMITS.entities) issues.add('too-costly', at('entity'), `at most ${INGEST_LIMITS.entities} entities`);
    else
      r.entity.forEach((e: unknown, i) => {
        const ep = `${at('entity')}[${i}]`;
        if (!isObject(e)) return issues.add('structure', ep, 'an entity must be an object');
        const what = e.what === undefined ? null : reference(e.what, `${ep}.what`, issues);
        const entityType = e.type === undefined ? null : coding(e.type, `${ep}.type`, issues) ?? null;
        const role = e.role === undefined ? null : coding(e.role, `${ep}.role`, issues) ?? null;
        if (e.lifecycle !== undefined) coding(e.lifecycle, `${ep}.lifecycle`, issues);
        if (e.query !== undefined && (typeof e.query !== 'string' || e.query.length % 4 !== 0 || !BASE64.test(e.query))) issues.add('value', `${ep}.query`, 'query must be base64');
        const display = isObject(e.what) ? optionalString(e.what.display, `${ep}.what.display`, issues) : undefined;
        const name = optionalString(e.name, `${ep}.name`, issues);
        const description = optionalString(e.description, `${ep}.description`, issues);
        if (display !== undefined || name !== undefined || description !== undefined) {
          narrative.entities.push({ index: i, ...(display !== undefined ? { display } : {}), ...(name !== undefined ? { name } : {}), ...(description !== undefined ? { description } : {}) });
        }
        entities.push({ what: what ? stripped(what) : null, type: entityType, role });
        const named = patientOf(what, entityType, role, domain);
        const patient = named?.id;
        if (named?.foreign === 'reference') issues.add('value', `${ep}.what.reference`, "a Patient of another FHIR server is another domain's patient: only relative Patient references, or absolute ones to the local FHIR base (AUDIT_INGEST_FHIR_BASE), name a Custos patient");
        else if (named?.foreign === 'identifier') issues.add('value', `${ep}.what.identifier.system`, "a patient identifier of another system is another domain's patient: only identifiers without a system or of the local one (AUDIT_INGEST_PATIENT_SYSTEMS) name a Custos patient");
        else if (patient !== undefined) {
          if (!PATIENT_ID.test(patient)) issues.add('value', `${ep}.what`, 'the patient is not one Custos can name (ids are [A-Za-z0-9._-]{1,100})');
          else if (!patients.has(patient)) patients.set(patient, `${ep}.what`);
        }
      });
  }
  if (patients.size > 1) issues.add('value', [...patients.values()][1] as string, 'an AuditEvent names one patient: report one AuditEvent per patient');

  if (issues.count > before || typeof id !== 'string' || !type || recorded === undefined || !observer) return undefined;
  const sealed: ReportedNarrative = {
    ...(outcomeDesc !== undefined ? { outcomeDesc } : {}),
    ...(narrative.agents.length > 0 ? { agents: narrative.agents } : {}),
    ...(narrative.entities.length > 0 ? { entities: narrative.entities } : {}),
  };
  const codes = new Set(purposes.map((p) => p.code));
  return {
    auditEventId: id,
    recorded,
    type,
    subtype,
    action,
    outcome,
    decision: outcome === null || outcome === '0' ? 'reported-success' : 'reported-failure',
    who: requestorWho ?? firstWho ?? 'unidentified',
    agents,
    purposeOfEvent: purposes,
    purpose: purposeOf(purposes),
    emergency: codes.has('ETREAT') || codes.has('BTG'),
    entities,
    patientId: patients.size === 1 ? ([...patients.keys()][0] as string) : null,
    observer: stripped(observer),
    site,
    ...(Object.keys(sealed).length > 0 ? { narrative: sealed } : {}),
  };
}

/** The AccessReported a parsed AuditEvent becomes for source `client` (the caller's identity). */
export function reportedAccessOf(event: ParsedAuditEvent, client: string): AccessReportedData {
  const { observer, site, who, ...rest } = event;
  return { ...rest, source: { client, observer, site }, actorId: `${client}/${who}` };
}

function optionalString(v: unknown, path: string, issues: Issues): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) {
    issues.add('value', path, 'must be a non-empty string');
    return undefined;
  }
  return v;
}

function list<T>(v: unknown, path: string, issues: Issues, max: number, read: (item: unknown, path: string) => T | undefined): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    issues.add('structure', path, 'must be an array');
    return [];
  }
  if (v.length > max) {
    issues.add('too-costly', path, `at most ${max} items`);
    return [];
  }
  const out: T[] = [];
  v.forEach((item, i) => {
    const r = read(item, `${path}[${i}]`);
    if (r !== undefined) out.push(r);
  });
  return out;
}

function coding(v: unknown, path: string, issues: Issues): ReportedCoding | undefined {
  if (!isObject(v)) {
    issues.add('structure', path, 'must be a Coding (an object)');
    return undefined;
  }
  const system = optionalString(v.system, `${path}.system`, issues);
  const code = optionalString(v.code, `${path}.code`, issues);
  optionalString(v.display, `${path}.display`, issues);
  if (system === undefined && code === undefined && v.display === undefined) issues.add('required', path, 'a Coding needs a system, a code or a display');
  return { ...(system !== undefined ? { system } : {}), ...(code !== undefined ? { code } : {}) };
}

function codeable(v: unknown, path: string, issues: Issues): ReportedCoding[] {
  if (!isObject(v)) {
    issues.add('structure', path, 'must be a CodeableConcept (an object)');
    return [];
  }
  optionalString(v.text, `${path}.text`, issues);
  return list(v.coding, `${path}.coding`, issues, INGEST_LIMITS.codings, (c, p) => coding(c, p, issues));
}

function reference(v: unknown, path: string, issues: Issues): (ReportedReference & { display?: string }) | null {
  if (!isObject(v)) {
    issues.add('structure', path, 'must be a Reference (an object)');
    return null;
  }
  const ref = optionalString(v.reference, `${path}.reference`, issues);
  if (ref !== undefined && (!REFERENCE.test(ref) || DOT_SEGMENT.test(ref))) issues.add('value', `${path}.reference`, 'must be a FHIR reference (Type/id, an absolute URL to one, #id or a urn)');
  const type = optionalString(v.type, `${path}.type`, issues);
  const display = optionalString(v.display, `${path}.display`, issues);
  let identifier: ReportedReference['identifier'];
  if (v.identifier !== undefined) {
    if (!isObject(v.identifier)) issues.add('structure', `${path}.identifier`, 'must be an Identifier (an object)');
    else {
      const system = optionalString(v.identifier.system, `${path}.identifier.system`, issues);
      const value = optionalString(v.identifier.value, `${path}.identifier.value`, issues);
      identifier = { ...(system !== undefined ? { system } : {}), ...(value !== undefined ? { value } : {}) };
    }
  }
  if (ref === undefined && identifier?.value === undefined && display === undefined) issues.add('required', path, 'a Reference needs a reference, an identifier or a display');
  return { ...(ref !== undefined ? { reference: ref } : {}), ...(type !== undefined ? { type } : {}), ...(identifier ? { identifier } : {}), ...(display !== undefined ? { display } : {}) };
}

/** A reference without its display (which is sealed apart). */
function stripped(r: ReportedReference & { display?: string }): ReportedReference {
  const { display: _display, ...rest } = r;
  return rest;
}

/**
 * How an agent is named in Custos: its identifier (`system|value`), else its reference, else,
 * when the source gives a display name only (BALP's "John Smith"), a stable pseudonym of it:
 * the name itself stays sealed, and the sentinel can still count one agent's accesses.
 */
function whoOf(who: (ReportedReference & { display?: string }) | null, display: string | undefined): string {
  const value = who?.identifier?.value;
  if (value !== undefined) return who?.identifier?.system ? `${who.identifier.system}|${value}` : value;
  if (who?.reference !== undefined) return who.reference;
  if (display !== undefined) return `display:${createHash('sha256').update(display).digest('hex').slice(0, 16)}`;
  return 'unidentified';
}

const PATIENT_REFERENCE = /^(?:(.*)\/)?Patient\/([^/]+)(?:\/_history\/[^/]+)?$/;

/** A base URL as compared: origin and path, no trailing slash (scheme and host in lower case). */
function baseOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

/**
 * The patient an entity names: a reference to a Patient (`Patient/x`, versioned or not; an
 * absolute one only to a local FHIR base), or, for BALP's patient entity (role 1 "Patient", or
 * `what.type` Patient), its identifier's value when the identifier has no system or the local
 * one. A Patient of another server or another identifier system is `foreign`: refused.
 */
function patientOf(what: ReportedReference | null, type: ReportedCoding | null, role: ReportedCoding | null, domain: PatientDomain): { id: string; foreign?: undefined } | { id?: undefined; foreign: 'reference' | 'identifier' } | undefined {
  if (!what) return undefined;
  const m = what.reference !== undefined ? PATIENT_REFERENCE.exec(what.reference) : null;
  if (m) {
    const base = m[1];
    if (base === undefined) return { id: m[2] as string };
    const normalized = baseOf(base);
    return normalized !== undefined && domain.fhirBases.includes(normalized) ? { id: m[2] as string } : { foreign: 'reference' };
  }
  const patientEntity = what.type === 'Patient' || (role?.code === '1' && (role.system === undefined || role.system.endsWith('/object-role')) && (type === null || type.code === '1'));
  if (!patientEntity || what.reference !== undefined) return undefined;
  const identifier = what.identifier;
  if (identifier?.value === undefined) return undefined;
  if (identifier.system !== undefined && !domain.systems.includes(identifier.system)) return { foreign: 'identifier' };
  return { id: identifier.value };
}

/** The purpose in Custos' vocabulary where a code maps to one (v3-ActReason, Custos' own), else the first code as given. */
function purposeOf(codes: readonly ReportedCoding[]): string | null {
  for (const c of codes) {
    const purpose = PURPOSES.find((p) => PURPOSE_CODES[p].code === c.code);
    if (purpose) return purpose;
    if (c.code === 'ETREAT' || c.code === 'BTG') return 'TREATMENT';
  }
  return codes.find((c) => c.code !== undefined)?.code ?? null;
}

function instant(v: unknown, path: string, now: Date, issues: Issues): string | undefined {
  const m = typeof v === 'string' ? INSTANT.exec(v) : null;
  if (!m) {
    issues.add('value', path, 'must be a FHIR instant (YYYY-MM-DDThh:mm:ss[.fff]Z or ±hh:mm)');
    return undefined;
  }
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const valid = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
  const tz = m[8] === 'Z' ? 0 : (m[8]!.startsWith('-') ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  if (valid.getUTCFullYear() !== y || valid.getUTCMonth() !== mo! - 1 || valid.getUTCDate() !== d || h! > 23 || mi! > 59 || s! > 59 || Math.abs(tz) > 14 * 60 || Number(m[10]) > 59) {
    issues.add('value', path, 'is not a date and time that exists');
    return undefined;
  }
  const at = Date.parse(v as string);
  if (!Number.isFinite(at) || at < EARLIEST_RECORDED || at > now.getTime() + INGEST_LIMITS.futureMs) {
    issues.add('value', path, 'is out of range (1970 to one day from now)');
    return undefined;
  }
  return new Date(at).toISOString();
}
