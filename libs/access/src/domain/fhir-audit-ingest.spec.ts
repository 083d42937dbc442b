import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { given } from '@custos/testing';
import { accessDecider } from './access.decide.js';
import { DEFAULT_PATIENT_DOMAIN, INGEST_LIMITS, parseIngest, type ParsedAuditEvent, type PatientDomain, reportedAccessOf } from './fhir-audit-ingest.js';

const NOW = new Date('2026-12-03T12:00:00Z');
const DATA = join(import.meta.dirname, '../../test-data/fhir');

/** Every example kept as test data (FHIR R4 and IHE BALP), by file. */
function examples(): Array<{ file: string; resource: Record<string, unknown> }> {
  return ['r4', 'balp'].flatMap((dir) =>
    readdirSync(join(DATA, dir))
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ file: `${dir}/${f}`, resource: JSON.parse(readFileSync(join(DATA, dir, f), 'utf8')) as Record<string, unknown> })),
  );
}

/** A minimal BALP-shaped read of patient p1 by a clinician named by identifier. */
function read(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'AuditEvent',
    id: 'ae-1',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    action: 'R',
    recorded: '2026-12-03T11:59:00Z',
    outcome: '0',
    purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }] }],
    agent: [
      { who: { reference: 'Device/viewer' }, requestor: false },
      { who: { identifier: { system: 'urn:ehr:user', value: 'u42' }, display: 'Dr Jane Roe' }, requestor: true, role: [{ coding: [{ code: '309343006' }] }] },
    ],
    source: { observer: { reference: 'Device/ehr' }, site: 'ward-3' },
    entity: [
      { what: { reference: 'Patient/p1' }, type: { code: '1' }, role: { code: '1' } },
      { what: { reference: 'DiagnosticReport/r9', display: 'CT chest for suspected cancer' }, description: 'the report' },
    ],
    ...over,
  };
}

const ok = (body: unknown, domain?: PatientDomain) => {
  const r = parseIngest(body, NOW, domain);
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.issues)}`);
  return r.value;
};
const issuesOf = (body: unknown, domain?: PatientDomain) => {
  const r = parseIngest(body, NOW, domain);
  if (r.ok) throw new Error('accepted');
  return r.issues.map((i) => [i.code, i.expression[0]]);
};

describe('FHIR AuditEvent ingest: reading and mapping', () => {
  describe('the published examples are all accepted', () => {
    it.each(examples().map((e) => [e.file, e.resource] as const))('%s', (_file, resource) => {
      const [entry] = ok(resource).entries;
      expect(entry?.event.auditEventId).toBe(resource.id);
    });
  });

  it('maps a BALP patient read: patient, actor qualified by the source, purpose, outcome, entities; free text sealed apart, never in the clear part', () => {
    const [entry] = ok(read()).entries;
    const data = reportedAccessOf(entry!.event, 'ehr-1');
    expect(data).toMatchObject({
      source: { client: 'ehr-1', observer: { reference: 'Device/ehr' }, site: 'ward-3' },
      auditEventId: 'ae-1',
      recorded: '2026-12-03T11:59:00.000Z',
      action: 'R',
      outcome: '0',
      decision: 'reported-success',
      actorId: 'ehr-1/urn:ehr:user|u42',
      purpose: 'TREATMENT',
      emergency: false,
      patientId: 'p1',
      narrative: { agents: [{ index: 1, display: 'Dr Jane Roe' }], entities: [{ index: 1, display: 'CT chest for suspected cancer', description: 'the report' }] },
    });
    expect(data.agents[1]).toEqual({ who: { identifier: { system: 'urn:ehr:user', value: 'u42' } }, requestor: true, type: [], roles: [{ code: '309343006' }] });
    const { narrative: _sealed, ...clear } = data;
    expect(JSON.stringify(clear)).not.toMatch(/Jane|cancer|the report/);
  });

  it.each([
    ['no outcome', {}, 'reported-success'],
    ['outcome 0', { outcome: '0' }, 'reported-success'],
    ['outcome 4', { outcome: '4' }, 'reported-failure'],
    ['outcome 12', { outcome: '12' }, 'reported-failure'],
  ])('decision from %s', (_name, over, decision) => {
    const base = read();
    delete base.outcome;
    expect(ok({ ...base, ...over }).entries[0]?.event.decision).toBe(decision);
  });

  it.each([
    ['a Patient reference', [{ what: { reference: 'Patient/p7' } }], 'p7'],
    ['a versioned Patient reference', [{ what: { reference: 'Patient/p7/_history/3' } }], 'p7'],
    ['a BALP patient entity by identifier without a system', [{ what: { identifier: { value: 'p7' } }, type: { code: '1' }, role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1' } }], 'p7'],
    ['a BALP patient entity by an identifier of Custos\' own system', [{ what: { identifier: { system: 'https://custos.dev/fhir/patient-id', value: 'p7' } }, role: { code: '1' } }], 'p7'],
    ['a Patient-typed reference by identifier', [{ what: { type: 'Patient', identifier: { value: 'p7' } } }], 'p7'],
    ['an entity that is not the patient, by an identifier of another system', [{ what: { identifier: { system: 'urn:oid:9.9.9.OTHER', value: 'x1' } }, role: { code: '4' } }], null],
    ['no patient', [{ what: { reference: 'MeasureReport/m1' } }], null],
  ])('the patient from %s', (_name, entity, patientId) => {
    expect(ok(read({ entity })).entries[0]?.event.patientId).toBe(patientId);
  });

  describe("another domain's patient is refused, not filed under the Custos patient of the same id", () => {
    const local: PatientDomain = { systems: ['urn:oid:1.2.3.LOCAL', 'https://custos.dev/fhir/patient-id'], fhirBases: ['https://ehr.example/fhir'] };
    it.each<[string, unknown[], string]>([
      ['a patient entity (role 1) by an identifier of another system', [{ what: { identifier: { system: 'urn:oid:9.9.9.OTHER', value: 'atkB' } }, role: { code: '1' } }], 'AuditEvent.entity[0].what.identifier.system'],
      ['a Patient-typed reference by an identifier of another system', [{ what: { type: 'Patient', identifier: { system: 'urn:mrn', value: 'atkB' } } }], 'AuditEvent.entity[0].what.identifier.system'],
      ['an absolute Patient reference to another server', [{ what: { reference: 'https://other-hospital.example/fhir/Patient/atkA' } }], 'AuditEvent.entity[0].what.reference'],
      ['an absolute, versioned Patient reference to another server', [{ what: { reference: 'https://other-hospital.example/fhir/Patient/atkA/_history/2' } }], 'AuditEvent.entity[0].what.reference'],
      ['an absolute Patient reference to a longer path on the local host', [{ what: { reference: 'https://ehr.example/fhir/other/Patient/atkA' } }], 'AuditEvent.entity[0].what.reference'],
      ['a foreign patient beside a local one', [{ what: { reference: 'Patient/p1' } }, { what: { identifier: { system: 'urn:oid:9.9.9.OTHER', value: 'p1' } }, role: { code: '1' } }], 'AuditEvent.entity[1].what.identifier.system'],
    ])('%s: 400 naming the FHIR path (default and configured domains)', (_name, entity, path) => {
      expect(issuesOf(read({ entity }))).toEqual([['value', path]]);
      expect(issuesOf(read({ entity }), local)).toEqual([['value', path]]);
    });

    it('by default, an absolute Patient reference is refused even to a plausible local server (no base configured)', () => {
      expect(DEFAULT_PATIENT_DOMAIN.fhirBases).toEqual([]);
      expect(issuesOf(read({ entity: [{ what: { reference: 'https://ehr.example/fhir/Patient/p7' } }] }))).toEqual([['value', 'AuditEvent.entity[0].what.reference']]);
    });

    it.each([
      ['an absolute Patient reference to the configured base', 'https://ehr.example/fhir/Patient/p7'],
      ['the same, versioned', 'https://ehr.example/fhir/Patient/p7/_history/3'],
      ['the same, the host in upper case', 'https://EHR.example/fhir/Patient/p7'],
    ])('takes %s', (_name, reference) => {
      expect(ok(read({ entity: [{ what: { reference } }] }), local).entries[0]?.event.patientId).toBe('p7');
    });

    it('takes an identifier of a configured system', () => {
      expect(ok(read({ entity: [{ what: { identifier: { system: 'urn:oid:1.2.3.LOCAL', value: 'p7' } }, role: { code: '1' } }] }), local).entries[0]?.event.patientId).toBe('p7');
      expect(issuesOf(read({ entity: [{ what: { identifier: { system: 'urn:oid:1.2.3.LOCAL', value: 'p7' } }, role: { code: '1' } }] }))).toEqual([['value', 'AuditEvent.entity[0].what.identifier.system']]);
    });
  });

  it('names an agent given by display only with a stable pseudonym (the name itself is sealed), and an event without a requestor by its first agent', () => {
    const byName = ok(read({ agent: [{ who: { display: 'John Smith' }, requestor: true }] })).entries[0]!.event;
    expect(byName.who).toMatch(/^display:[0-9a-f]{16}$/);
    expect(ok(read({ agent: [{ who: { display: 'John Smith' }, requestor: true }] })).entries[0]!.event.who).toBe(byName.who);
    expect(ok(read({ agent: [{ who: { reference: 'Device/a' }, requestor: false }, { who: { reference: 'Device/b' }, requestor: false }] })).entries[0]!.event.who).toBe('Device/a');
  });

  it('takes BALP purposeOfUse on the agent, and reads emergency codes', () => {
    const e = ok(read({ purposeOfEvent: undefined, agent: [{ who: { reference: 'Practitioner/x' }, requestor: true, purposeOfUse: [{ coding: [{ code: 'ETREAT' }] }] }] })).entries[0]!.event;
    expect(e).toMatchObject({ purpose: 'TREATMENT', emergency: true });
    expect(ok(read({ purposeOfEvent: [{ coding: [{ code: 'HMARKT' }] }] })).entries[0]!.event.purpose).toBe('HMARKT');
  });

  it('reads a batch and a transaction Bundle, entries in order with their paths', () => {
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: read({ id: 'a' }), request: { method: 'POST', url: 'AuditEvent' } }, { resource: read({ id: 'b' }) }] };
    const parsed = ok(bundle);
    expect(parsed.kind).toBe('transaction');
    expect(parsed.entries.map((e) => [e.path, e.event.auditEventId])).toEqual([
      ['Bundle.entry[0].resource', 'a'],
      ['Bundle.entry[1].resource', 'b'],
    ]);
    expect(ok({ ...bundle, type: 'batch' }).kind).toBe('batch');
  });

  describe('refuses what R4 or Custos does not allow, naming the FHIR path', () => {
    const without = (key: string) => {
      const r = read();
      delete r[key];
      return r;
    };
    it.each<[string, unknown, Array<[string, string]>]>([
      ['no id', without('id'), [['required', 'AuditEvent.id']]],
      ['an id that is not a FHIR id', read({ id: 'a b' }), [['value', 'AuditEvent.id']]],
      ['an id of 65 characters', read({ id: 'x'.repeat(65) }), [['value', 'AuditEvent.id']]],
      ['no type', without('type'), [['required', 'AuditEvent.type']]],
      ['type as an array', read({ type: [{ code: 'rest' }] }), [['structure', 'AuditEvent.type']]],
      ['an unknown action', read({ action: 'X' }), [['value', 'AuditEvent.action']]],
      ['no recorded', without('recorded'), [['required', 'AuditEvent.recorded']]],
      ['recorded without a time zone', read({ recorded: '2026-12-03T11:59:00' }), [['value', 'AuditEvent.recorded']]],
      ['recorded on 31 February', read({ recorded: '2026-02-31T10:00:00Z' }), [['value', 'AuditEvent.recorded']]],
      ['recorded in 1969', read({ recorded: '1969-12-31T23:59:59Z' }), [['value', 'AuditEvent.recorded']]],
      ['recorded two days ahead', read({ recorded: '2026-12-05T12:00:00Z' }), [['value', 'AuditEvent.recorded']]],
      ['recorded as a number', read({ recorded: 1_700_000_000 }), [['value', 'AuditEvent.recorded']]],
      ['an unknown outcome', read({ outcome: '1' }), [['value', 'AuditEvent.outcome']]],
      ['outcome as a number', read({ outcome: 0 }), [['value', 'AuditEvent.outcome']]],
      ['no agent', without('agent'), [['required', 'AuditEvent.agent']]],
      ['agent as an object', read({ agent: { requestor: true } }), [['structure', 'AuditEvent.agent']]],
      ['an agent without requestor', read({ agent: [{ who: { reference: 'Device/x' } }] }), [['required', 'AuditEvent.agent[0].requestor']]],
      ['requestor as a string', read({ agent: [{ who: { reference: 'Device/x' }, requestor: 'true' }] }), [['value', 'AuditEvent.agent[0].requestor']]],
      ['no source', without('source'), [['required', 'AuditEvent.source']]],
      ['a source without observer', read({ source: { site: 'x' } }), [['required', 'AuditEvent.source.observer']]],
      ['a null field', read({ outcomeDesc: null }), [['invalid', 'AuditEvent.outcomeDesc']]],
      ['an empty array', read({ subtype: [] }), [['invalid', 'AuditEvent.subtype']]],
      ['a huge string', read({ outcomeDesc: 'x'.repeat(INGEST_LIMITS.string + 1) }), [['too-long', 'AuditEvent.outcomeDesc']]],
      ['deeply nested junk', read({ extension: [nest(20)] }), [['structure', expect.stringMatching(/^AuditEvent\.extension\[0\](\.a)+$/) as unknown as string]]],
      ['a constructor key', read({ source: { observer: { reference: 'Device/x' }, constructor: {} } }), [['invalid', 'AuditEvent.source']]],
      ['entity.query that is not base64', read({ entity: [{ what: { reference: 'List/l' }, query: 'not base64!' }] }), [['value', 'AuditEvent.entity[0].query']]],
      ['a patient id Custos cannot name', read({ entity: [{ what: { type: 'Patient', identifier: { value: 'p 1' } } }] }), [['value', 'AuditEvent.entity[0].what']]],
      ['a reference that is not one', read({ entity: [{ what: { reference: 'Patient/../../etc/passwd' } }] }), [['value', 'AuditEvent.entity[0].what.reference']]],
      ['a reference with a space', read({ source: { observer: { reference: 'Device/a b' } } }), [['value', 'AuditEvent.source.observer.reference']]],
      ['two patients', read({ entity: [{ what: { reference: 'Patient/p1' } }, { what: { reference: 'Patient/p2' } }] }), [['value', 'AuditEvent.entity[1].what']]],
      ['a Reference with nothing in it', read({ source: { observer: {} } }), [['required', 'AuditEvent.source.observer']]],
      ['an unknown resourceType', { ...read(), resourceType: 'Patient' }, [['invalid', 'resourceType']]],
    ])('%s', (_name, body, expected) => {
      expect(issuesOf(body)).toEqual(expected);
    });

    it.each<[string, unknown, Array<[string, string]>]>([
      ['a Bundle of another type', { resourceType: 'Bundle', type: 'collection', entry: [{ resource: read() }] }, [['value', 'Bundle.type']]],
      ['a Bundle without entries', { resourceType: 'Bundle', type: 'batch' }, [['required', 'Bundle.entry']]],
      ['an entry that is not an AuditEvent', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: read() }, { resource: { resourceType: 'Patient', id: 'p1' } }] }, [['invalid', 'Bundle.entry[1].resource.resourceType']]],
      ['an entry without resource', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'POST', url: 'AuditEvent' } }] }, [['required', 'Bundle.entry[0].resource']]],
      ['an entry with a bad recorded', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: read({ id: 'a' }) }, { resource: read({ id: 'b' }) }, { resource: read({ id: 'c' }) }, { resource: read({ id: 'd', recorded: 'yesterday' }) }] }, [['value', 'Bundle.entry[3].resource.recorded']]],
      ['an entry with a request that is not a create of an AuditEvent', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: read(), request: { method: 'DELETE', url: 'Patient/p1' } }] }, [['value', 'Bundle.entry[0].request.method'], ['value', 'Bundle.entry[0].request.url']]],
      ['the same id twice', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: read() }, { resource: read() }] }, [['value', 'Bundle.entry[1].resource.id']]],
      ['more entries than the cap', { resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: INGEST_LIMITS.entries + 1 }, (_, i) => ({ resource: read({ id: `e${i}` }) })) }, [['too-costly', 'Bundle.entry']]],
      ['an array instead of a resource', [read()], [['structure', '$']]],
    ])('%s', (_name, body, expected) => {
      expect(issuesOf(body)).toEqual(expected);
    });

    it('lists every problem of one AuditEvent, each with its path', () => {
      const issues = issuesOf(read({ id: undefined, action: 'Z', agent: [{ requestor: 1 }], source: {} }));
      expect(issues).toEqual([
        ['required', 'AuditEvent.id'],
        ['value', 'AuditEvent.action'],
        ['value', 'AuditEvent.agent[0].requestor'],
        ['required', 'AuditEvent.source.observer'],
      ]);
    });
  });

  describe('the decider records a reported access as reported', () => {
    const parsed = (over: Record<string, unknown> = {}): ParsedAuditEvent => ok(read(over)).entries[0]!.event;
    it('given no history, when a reported access is recorded, then AccessReported', () => {
      const data = reportedAccessOf(parsed(), 'ehr-1');
      given(accessDecider, []).when({ type: 'RecordReportedAccess', data }).then([{ type: 'AccessReported', data }]);
    });
    it('refuses an actor not qualified by its source, and a decision that does not follow the outcome', () => {
      const data = reportedAccessOf(parsed(), 'ehr-1');
      given(accessDecider, []).when({ type: 'RecordReportedAccess', data: { ...data, actorId: 'dr-1' } }).thenFails('invalid-audit-event');
      given(accessDecider, []).when({ type: 'RecordReportedAccess', data: { ...data, outcome: '8' } }).thenFails('invalid-audit-event');
      given(accessDecider, []).when({ type: 'RecordReportedAccess', data: { ...data, patientId: 'p 1' } }).thenFails('invalid-audit-event');
    });
  });
});

function nest(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = { url: 'x' };
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}
