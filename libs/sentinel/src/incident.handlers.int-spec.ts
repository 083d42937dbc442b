import type { Principal } from '@custos/authz';
import { type CommandContext, EventStore } from '@custos/event-store';
import { KeyService, openKek, PayloadCipher } from '@custos/keys';
import { FixedClock, SequentialIds } from '@custos/platform';
import { openTestStore, type TestStore } from '@custos/testing';
import { ALL_MIGRATIONS } from '@custos/contexts';
import { INCIDENT_PERSONAL } from './domain/incident.events.js';
import { REFERENCE_PERSONAL, workforceStreamId } from './domain/reference.events.js';
import { ActOnIncidentCommand, ActOnIncidentHandler, OpenIncidentCommand, OpenIncidentHandler } from './incident.handlers.js';
import { IncidentExportHandler, IncidentExportQuery, IncidentHandler, IncidentQuery, IncidentTimelineHandler, IncidentTimelineQuery, RenderedText, SiemEventsHandler, SiemEventsQuery } from './incident.read-handlers.js';
import { RecordWorkforceMemberCommand, RecordWorkforceMemberHandler } from './reference.handlers.js';

/**
 * The incident handlers below the HTTP edge, on PGlite: what the request says is parsed and
 * refused before a case is read, sealed parts are opened only for whoever may read them, and
 * CSV / NDJSON come back rendered.
 */
const NOW = new Date('2026-11-02T19:00:00.000Z');
const officer: CommandContext = { actor: { id: 'sec-1', roles: ['security-officer'] }, correlationId: 'corr-1' };
const admin: CommandContext = { actor: { id: 'adm-1', roles: ['admin'] }, correlationId: 'corr-2' };
const reader = (sub: string, roles: string[]): Principal => ({ sub, roles, credentials: [] });
const subject = { kind: 'actor', id: 'snoop' } as const;

describe('incident handlers (PGlite)', () => {
  let t: TestStore;
  let store: EventStore;
  let keys: KeyService;
  let cipher: PayloadCipher;
  const clock = new FixedClock(NOW);
  let open: OpenIncidentHandler;
  let act: ActOnIncidentHandler;

  beforeEach(async () => {
    t = await openTestStore('pglite', ALL_MIGRATIONS);
    keys = new KeyService(t.db, await openKek({ kind: 'memory' }, () => undefined));
    cipher = new PayloadCipher(keys, { ...INCIDENT_PERSONAL, ...REFERENCE_PERSONAL });
    // The gateway's store: personal fields sealed on append.
    store = new EventStore(t.db, { ids: new SequentialIds(), sealer: cipher });
    open = new OpenIncidentHandler(store, clock);
    act = new ActOnIncidentHandler(store, clock);
  });
  afterEach(async () => {
    await t.close();
  });

  it('opens a case by hand: a date-only discovery is read as midnight UTC, one in the future or evidence the log lacks is refused before anything is written', async () => {
    const opened = await open.execute(new OpenIncidentCommand({ title: 'snooping', severity: 'high', subject, patientIds: ['p1', 'p1', 'p2'], discoveredAt: '2026-11-01' }, officer));
    expect(opened).toMatchObject({ state: 'OPEN', version: 1, recorded: 1 });
    const view = await new IncidentHandler(store, cipher).execute(new IncidentQuery(opened.incidentId, reader('sec-1', ['security-officer'])));
    expect(view).toMatchObject({ title: 'snooping', discoveredAt: '2026-11-01T00:00:00.000Z', patientIds: ['p1', 'p2'], source: 'officer', version: 1 });

    await expect(open.execute(new OpenIncidentCommand({ title: 'later', severity: 'low', subject, discoveredAt: '2026-11-03' }, officer))).rejects.toMatchObject({ code: 'bad-date' });
    await expect(open.execute(new OpenIncidentCommand({ title: 'x', severity: 'low', subject, evidence: ['00000000-0000-4000-8000-000000000000'] }, officer))).rejects.toMatchObject({ code: 'unknown-event' });
    expect((await store.readAll(0, 100)).map((e) => e.type)).toEqual(['IncidentOpened']);
  });

  it('checks a step before it reads the case: bad counts, dates or evidence are refused as such on a case that does not exist, a good step there is a 404', async () => {
    const missing = 'inc-missing';
    const assessment = { factors: { natureAndExtent: 'a', unauthorizedPerson: 'b', acquiredOrViewed: 'c', mitigation: 'd' }, decision: 'breach' as const, rationale: 'r', affected: { total: 1, byRegion: { 'bad region!': 1 }, euResidents: 0 } };
    await expect(act.execute(new ActOnIncidentCommand(missing, { type: 'AssessBreach', assessment }, officer))).rejects.toMatchObject({ code: 'bad-counts' });
    await expect(act.execute(new ActOnIncidentCommand(missing, { type: 'AttachEvidence', eventIds: ['00000000-0000-4000-8000-000000000000'], note: 'n' }, officer))).rejects.toMatchObject({ code: 'unknown-event' });
    await expect(act.execute(new ActOnIncidentCommand(missing, { type: 'PlaceHold', kind: 'oral', agency: 'FBI', from: 'yesterday' }, officer))).rejects.toMatchObject({ code: 'bad-instant' });
    await expect(act.execute(new ActOnIncidentCommand(missing, { type: 'TransitionIncident', to: 'TRIAGED', note: 'n' }, officer))).rejects.toMatchObject({ code: 'incident-not-found' });
  });

  it("separation of duties on a patient's case is decided from the log: a data access not yet projected makes the officer involved (whatever the case of their id); an oversight read of the patient does not", async () => {
    const accessed = (type: string, actorId: string) =>
      store.append(`trail-${actorId}-${type}`, [{ type, schemaVersion: 1, data: { patientId: 'p-x' }, metadata: { actor: { id: actorId, roles: ['security-officer'] }, correlationId: 'c', patientId: 'p-x' }, occurredAt: new Date(NOW.getTime() - 60_000) }], { expectedVersion: 'no-stream' });
    // SO-Q accessed the patient a minute ago (no projection has run); so-r only read the patient's trail as oversight.
    await accessed('AccessDecided', 'SO-Q');
    await accessed('AuditDataRead', 'so-r');
    const { incidentId } = await open.execute(new OpenIncidentCommand({ title: 'patient case', severity: 'high', subject: { kind: 'patient', id: 'p-x' } }, officer));
    const as = (id: string): CommandContext => ({ actor: { id, roles: ['security-officer'] }, correlationId: `corr-${id}` });
    const dismiss = { type: 'RecordVerdict', verdict: 'false-positive', note: 'nothing here' } as const;
    await expect(act.execute(new ActOnIncidentCommand(incidentId, dismiss, as('so-q')))).rejects.toMatchObject({ code: 'separation-of-duties' });
    await expect(act.execute(new ActOnIncidentCommand(incidentId, dismiss, as('SO-Q')))).rejects.toMatchObject({ code: 'separation-of-duties' });
    expect(await act.execute(new ActOnIncidentCommand(incidentId, dismiss, as('so-r')))).toMatchObject({ recorded: 1 });
  });

  it('records each step by the caller at the clock, notes sealed at rest; the timeline opens them for a security officer only, as JSON or CSV', async () => {
    const { incidentId } = await open.execute(new OpenIncidentCommand({ title: 'snooping', severity: 'high', subject }, officer));
    const moved = await act.execute(new ActOnIncidentCommand(incidentId, { type: 'TransitionIncident', to: 'TRIAGED', note: '=HYPERLINK("x")' }, officer));
    expect(moved).toEqual({ incidentId, version: 2, state: 'TRIAGED', recorded: 1 });
    const held = await act.execute(new ActOnIncidentCommand(incidentId, { type: 'PlaceHold', kind: 'oral', agency: 'FBI field office', from: '2026-11-01' }, officer));
    expect(held.version).toBe(3);

    const stored = await store.readStream(`incident-${incidentId}`);
    expect(JSON.stringify(stored)).not.toContain('HYPERLINK');
    expect(JSON.stringify(stored)).not.toContain('FBI field office');

    const timeline = new IncidentTimelineHandler(store, cipher);
    const asOfficer = await timeline.execute(new IncidentTimelineQuery(incidentId, 'json', reader('sec-1', ['security-officer'])));
    expect(asOfficer).not.toBeInstanceOf(RenderedText);
    const items = (asOfficer as Exclude<typeof asOfficer, RenderedText>).items;
    expect(items.map((i) => [i.type, i.by])).toEqual([
      ['IncidentOpened', 'sec-1'],
      ['IncidentTransitioned', 'sec-1'],
      ['LawEnforcementHold', 'sec-1'],
    ]);
    expect(items[1]?.data).toMatchObject({ officer: 'sec-1', at: NOW.toISOString(), note: '=HYPERLINK("x")' });
    expect(items[2]?.data).toMatchObject({ agency: 'FBI field office', from: '2026-11-01T00:00:00.000Z' });

    const asAdmin = await timeline.execute(new IncidentTimelineQuery(incidentId, 'json', reader('adm-1', ['admin'])));
    expect((asAdmin as Exclude<typeof asAdmin, RenderedText>).items[1]?.data).toMatchObject({ note: { redacted: true } });

    // The officer the case is about reads none of it, whatever the case of their id.
    await expect(timeline.execute(new IncidentTimelineQuery(incidentId, 'json', reader('Snoop', ['security-officer'])))).rejects.toMatchObject({ code: 'separation-of-duties' });
    await expect(new IncidentHandler(store, cipher).execute(new IncidentQuery(incidentId, reader('SNOOP', ['security-officer'])))).rejects.toMatchObject({ code: 'separation-of-duties' });

    const csv = await timeline.execute(new IncidentTimelineQuery(incidentId, 'csv', reader('sec-1', ['security-officer'])));
    expect(csv).toBeInstanceOf(RenderedText);
    const { mediaType, text } = csv as RenderedText;
    expect(mediaType).toBe('text/csv; charset=utf-8');
    expect(text.split('\r\n')[0]).toBe('sequence,at,type,by,eventId,hash,data');
    expect(text.split('\r\n')).toHaveLength(items.length + 2);
  });

  it('exports a case as OCSF NDJSON (any other format refused before the case is read), and the SIEM feed resumes after the last sequence it sent', async () => {
    await expect(new IncidentExportHandler(store).execute(new IncidentExportQuery('inc-missing', 'csv', reader('sec-1', ['security-officer'])))).rejects.toMatchObject({ code: 'bad-format' });
    await expect(new IncidentExportHandler(store).execute(new IncidentExportQuery('inc-missing', undefined, reader('sec-1', ['security-officer'])))).rejects.toMatchObject({ code: 'incident-not-found' });
    const { incidentId } = await open.execute(new OpenIncidentCommand({ title: 'snooping', severity: 'high', subject }, officer));
    await act.execute(new ActOnIncidentCommand(incidentId, { type: 'AssignIncident', assignee: 'sec-2' }, officer));

    const exported = await new IncidentExportHandler(store).execute(new IncidentExportQuery(incidentId, 'ocsf', reader('sec-1', ['security-officer'])));
    expect(exported.mediaType).toBe('application/x-ndjson');
    expect(exported.text.endsWith('\n')).toBe(true);
    expect(exported.text.trim().split('\n').map((l) => (JSON.parse(l) as { class_uid: number }).class_uid)).toEqual([2005, 2005]);

    const siem = new SiemEventsHandler(store);
    const first = await siem.execute(new SiemEventsQuery({ limit: 1 }));
    expect(first.headers).toEqual({ 'x-custos-next-after': '0' });
    const rest = await siem.execute(new SiemEventsQuery({ after: 0 }));
    expect(rest.headers).toEqual({ 'x-custos-next-after': '1' });
    const none = await siem.execute(new SiemEventsQuery({ after: 1 }));
    expect([none.text, none.headers]).toEqual(['', { 'x-custos-next-after': '1' }]);
  });

  it("records a workforce member with 'since' as written (a date: midnight UTC), and refuses one more than a day ahead", async () => {
    const workforce = new RecordWorkforceMemberHandler(store, clock, keys);
    const member = { familyName: 'Doe', address: '1 Main St', department: 'Radiology', status: 'terminated' as const, since: '2026-10-01' };
    await expect(workforce.execute(new RecordWorkforceMemberCommand('doc-1', { ...member, since: '2026-11-04T00:00:00Z' }, admin))).rejects.toMatchObject({ code: 'bad-date' });
    expect(await workforce.execute(new RecordWorkforceMemberCommand('doc-1', member, admin))).toEqual({ version: 1, changed: true });
    const [e] = await store.readStream(workforceStreamId('doc-1'));
    const opened = await cipher.reveal(e!, () => true);
    expect(opened.data).toMatchObject({ actorId: 'doc-1', since: '2026-10-01T00:00:00.000Z', patientId: null, department: 'Radiology', status: 'terminated' });
    // The same again records nothing.
    expect(await workforce.execute(new RecordWorkforceMemberCommand('doc-1', member, admin))).toEqual({ version: 1, changed: false });
  });
});
