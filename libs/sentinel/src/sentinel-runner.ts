import { type AppendRequest, type CommandContext, type CommitFeed, commandShell, type Database, eventCodec, type EventStore, metadataFor, readEventsAt, type StoredEvent } from '@custos/event-store';
import { ConcurrencyError, CustosError } from '@custos/errors';
import type { Logger } from 'pino';
import { type IncidentCommand, incidentDecider } from './domain/incident.decide.js';
import { type EvidenceRef, type IncidentEvent, type IncidentOpened, incidentStreamId } from './domain/incident.events.js';
import { DEFAULT_PARAMETERS, type Detection, detectionStreamId, IncidentLinker, type Observation, SentinelEngine, type SentinelParameters } from './domain/rules.js';
import { actorOf, DEFAULT_FINDING_PARAMETERS, type FindingParameters, type FindingRaisedData, FindingsEngine, findingStreamId } from './domain/findings.js';
import { type FindingEvent, findingDecider } from './domain/finding.decide.js';

export type DetectionRaised = { readonly type: 'DetectionRaised'; readonly data: Detection };
export const detectionCodec = eventCodec<DetectionRaised>({ DetectionRaised: { version: 1 } });
export const incidentCodec = eventCodec<IncidentEvent>({
  IncidentOpened: { version: 1 },
  IncidentTransitioned: { version: 1 },
  DetectionLinked: { version: 1 },
  EvidenceAttached: { version: 1 },
  SeverityChanged: { version: 1 },
  IncidentAssigned: { version: 1 },
  DiscoveryDated: { version: 1 },
  BreachAssessed: { version: 1 },
  NotificationRecorded: { version: 1 },
  LawEnforcementHold: { version: 1 },
  VerdictRecorded: { version: 1 },
  IncidentReopened: { version: 1 },
  PatientsAdded: { version: 1 },
});

export const findingCodec = eventCodec<FindingEvent>({ FindingRaised: { version: 1 }, FindingTransitioned: { version: 1 } });

/** A finding's command shell: the sentinel raises findings, stewards move them on. */
export const findingShell = (store: EventStore, clock: { now(): Date }) => commandShell({ store, clock, decider: findingDecider, codec: findingCodec });

/** An incident's command shell: officers' steps and the sentinel's detections alike go through the incident decider. */
export const incidentShell = (store: EventStore, clock: { now(): Date }) => commandShell({ store, clock, decider: incidentDecider, codec: incidentCodec });

const SENTINEL_ACTOR = { id: 'custos-sentinel', roles: ['system'] };
/** How often, at most, a round that recorded nothing saves the sentinel's position. */
const POSITION_EVERY_MS = 1000;
const ENDED = new Set(['CLOSED', 'DISMISSED', 'MERGED']);

type Data = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** What one stored event tells the rules (nothing, for most events). */
export function observationsOf(e: StoredEvent): Observation[] {
  const d = (e.data ?? {}) as Data;
  const at = Date.parse(e.occurredAt);
  const ref: EvidenceRef = { eventId: e.eventId, sequence: e.globalSeq, hash: e.hash };
  const actor = e.metadata?.actor ?? { id: 'unknown', roles: [] };
  switch (e.type) {
    case 'AccessDecided': {
      // A DICOMweb retrieve of whole instances (a study, a series, an instance) takes the images out: an export of
      // the patient's images as the bulk-export rule counts them, besides the access itself.
      const dicom = (d.dicom ?? null) as { level?: unknown } | null;
      const exported = d.decision === 'PERMIT' && typeof d.patientId === 'string' && (dicom?.level === 'study' || dicom?.level === 'series' || dicom?.level === 'instance');
      return [
        ...(exported ? [{ kind: 'export' as const, ref, at, actorId: actor.id, patientIds: [d.patientId as string] }] : []),
        {
          kind: 'access',
          ref,
          at,
          actorId: actor.id,
          roles: actor.roles ?? [],
          patientId: str(d.patientId),
          decision: d.decision === 'PERMIT' ? 'PERMIT' : 'DENY',
          emergency: d.emergency === true,
          consentVersion: typeof d.consentVersion === 'number' ? d.consentVersion : 0,
          purpose: str(d.purpose) ?? 'UNKNOWN',
        },
      ];
    }
    case 'AccessReported':
      // Another system's access, as it reports it: the actor is its agent, qualified by the
      // source (`<client>/<who>`), so reported reads count per agent like any other and no
      // source can add to a Custos user's count. Observed when recorded (the rules' windows
      // run in log order), so a backlog reported at once counts as at once. Not an emergency
      // here: Custos' review queue holds only its own break-the-glass decisions.
      return [
        {
          kind: 'access',
          ref,
          at,
          actorId: str(d.actorId) ?? `${actor.id}/unidentified`,
          roles: [],
          patientId: str(d.patientId),
          decision: d.decision === 'reported-success' ? 'PERMIT' : 'DENY',
          emergency: false,
          consentVersion: 0,
          purpose: str(d.purpose) ?? 'UNKNOWN',
        },
      ];
    case 'RouteAccessDenied':
      return [{ kind: 'access', ref, at, actorId: actor.id, roles: actor.roles ?? [], patientId: str(d.patientId), decision: 'DENY', emergency: false, consentVersion: 0, purpose: 'ROUTE' }];
    case 'ConsentChanged':
    case 'ConsentWithdrawn': {
      const patientId = str(d.patientId) ?? e.streamId.replace(/^consent-/, '');
      return [{ kind: 'consent', at, patientId, version: e.version }];
    }
    case 'EmergencyAccessReviewed':
      return typeof d.accessEventId === 'string' ? [{ kind: 'emergency-reviewed', at, accessEventId: d.accessEventId }] : [];
    case 'AuditDataRead':
      // A regulator's export (one patient per export today).
      if (d.route === '/v1/exports' && typeof d.patientId === 'string') return [{ kind: 'export', ref, at, actorId: actor.id, patientIds: [d.patientId] }];
      // Any other read of one patient's audit data (their trail, disclosures): oversight reads.
      if (typeof d.patientId === 'string') return [{ kind: 'audit-read', ref, at, actorId: actor.id, patientId: d.patientId, route: str(d.route) ?? 'unknown' }];
      return [];
    case 'PatientProfileRecorded':
      return [{ kind: 'patient-profile', at, patientId: String(d.patientId), vip: d.vip === true, employee: d.employee === true, familyNameIndex: String(d.familyNameIndex), addressIndex: String(d.addressIndex) }];
    case 'WorkforceMemberRecorded':
      return [
        {
          kind: 'workforce',
          at,
          actorId: String(d.actorId),
          status: d.status === 'terminated' ? 'terminated' : 'active',
          since: Date.parse(String(d.since)),
          familyNameIndex: String(d.familyNameIndex),
          addressIndex: String(d.addressIndex),
          patientId: str(d.patientId),
        },
      ];
    default:
      return [];
  }
}

/**
 * The sentinel's evaluation without I/O: stored events in global order in, detections routed
 * to incidents out. The runner records what it returns; tests replay generated logs through it.
 */
export class SentinelCore {
  readonly engine: SentinelEngine;
  /** The dataset rules (fairness findings for stewards), fed the same events in the same order. */
  readonly findings: FindingsEngine;
  private readonly linker: IncidentLinker;
  private readonly subjects = new Map<string, { kind: string; id: string }>();

  constructor(parameters: SentinelParameters = DEFAULT_PARAMETERS, findingParameters: FindingParameters = DEFAULT_FINDING_PARAMETERS) {
    this.engine = new SentinelEngine(parameters);
    this.findings = new FindingsEngine(findingParameters);
    this.linker = new IncidentLinker(parameters.aggregateHours);
  }

  /** The dataset rules' findings on one event. */
  evaluateFindings(e: StoredEvent): FindingRaisedData[] {
    return this.findings.observe(e);
  }

  evaluate(e: StoredEvent): Array<{ detection: Detection; incidentId: string; opens: boolean }> {
    // The sentinel's own record and the officers' decisions on incidents steer where detections go.
    if (e.type === 'IncidentOpened') {
      const d = e.data as IncidentOpened['data'];
      this.subjects.set(d.incidentId, d.subject);
    } else if (e.type === 'IncidentTransitioned') {
      const d = e.data as { incidentId: string; to: string };
      if (ENDED.has(d.to)) this.linker.ended(d.incidentId);
    } else if (e.type === 'VerdictRecorded') {
      const d = e.data as { incidentId: string; verdict: 'true-positive' | 'false-positive' | 'duplicate' };
      const subject = this.subjects.get(d.incidentId);
      if (subject?.kind === 'actor') this.engine.observe({ kind: 'verdict', at: Date.parse(e.occurredAt), actorId: subject.id, verdict: d.verdict });
    }
    const out: Array<{ detection: Detection; incidentId: string; opens: boolean }> = [];
    for (const o of observationsOf(e)) {
      for (const detection of this.engine.observe(o)) out.push({ detection, ...this.linker.route(detection) });
    }
    return out;
  }

  /**
   * The incident a detection was routed to has ended meanwhile (an officer closed it before
   * the sentinel read that far): later detections open a new one, and so does this one.
   */
  reroute(d: Detection, ended: string): { incidentId: string; opens: boolean } {
    this.linker.ended(ended);
    return this.linker.route(d);
  }
}

/**
 * The sentinel: reads the log in global order from where it stopped (windows and baselines
 * need the order; Kafka's partitions do not keep it), evaluates the rules and appends each
 * detection with the incident it opens or joins, in one transaction. Recording is idempotent:
 * a detection has its own stream ('no-stream'), so after a crash the events since the last
 * saved position are evaluated again and what was recorded is not recorded twice. Its state
 * lives in memory and is rebuilt at start by evaluating the log up to its position again,
 * recording nothing.
 */
export class SentinelRunner {
  readonly core: SentinelCore;
  private position = -1;
  private savedPosition = -1;
  private savedAt = 0;
  private started = false;
  /** Detections recorded by this runner, and skipped as already recorded (for tests and metrics). */
  readonly counts = { recorded: 0, alreadyRecorded: 0 };
  /** Findings recorded by this runner, and skipped as already recorded. */
  readonly findingCounts = { recorded: 0, alreadyRecorded: 0 };
  private readonly listeners = new Set<(d: Detection) => void>();
  private readonly incidents;
  private readonly findingSteps;

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly logger: Logger,
    parameters: SentinelParameters = DEFAULT_PARAMETERS,
    private readonly batchSize = 2000,
    findingParameters: FindingParameters = DEFAULT_FINDING_PARAMETERS,
  ) {
    this.core = new SentinelCore(parameters, findingParameters);
    // Every event the sentinel records carries the detection's own time, never the clock's.
    this.incidents = incidentShell(store, { now: () => new Date() });
    this.findingSteps = findingShell(store, { now: () => new Date() });
  }

  private feed: CommitFeed | undefined;

  /**
   * Takes what this process commits from `feed` in memory instead of reading it back (the
   * embedded gateway, where the sentinel shares PGlite's one connection with the decisions);
   * what the feed does not hold (another process's events, or more than it keeps) is read
   * from the store as before.
   */
  useFeed(feed: CommitFeed): void {
    this.feed = feed;
  }

  /** Calls `listener` with each detection this runner records (not those found already recorded); returns the detach. */
  onRecorded(listener: (d: Detection) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last global sequence evaluated. */
  get at(): number {
    return this.position;
  }

  private async start(): Promise<void> {
    if (this.started) return;
    const [row] = await this.db.query<{ position: string | number }>("SELECT position FROM custos_sentinel_position WHERE name = 'sentinel'");
    const saved = row ? Number(row.position) : -1;
    this.savedPosition = saved;
    // Rebuild the rules' state: the same events give the same state, and nothing is recorded.
    while (this.position < saved) {
      const events = await this.store.readAll(this.position + 1, Math.min(this.batchSize, saved - this.position));
      if (events.length === 0) break;
      for (const e of events) {
        this.core.evaluate(e);
        this.core.evaluateFindings(e);
      }
      this.position = (events[events.length - 1] as StoredEvent).globalSeq;
    }
    this.started = true;
  }

  /**
   * Evaluates what is new in the log; returns the position reached. The position is saved
   * after a round that recorded something, and otherwise at most every `POSITION_EVERY_MS`:
   * under load a round per commit would spend as much on saving as on evaluating, and what
   * a lost position costs is re-evaluating those events (recording is idempotent).
   */
  async catchUp(): Promise<number> {
    await this.start();
    const recordedBefore = this.counts.recorded + this.findingCounts.recorded;
    for (;;) {
      const held = this.feed ? this.feed.take(this.position + 1, this.position + 1 + this.batchSize).map((c) => c.event) : [];
      const events = held.length > 0 ? held : await this.store.readAll(this.position + 1, this.batchSize);
      for (const e of events) {
        const raised = this.core.evaluate(e);
        for (const r of raised) await this.record(r.detection, r.incidentId, r.opens);
        for (const f of this.core.evaluateFindings(e)) await this.recordFinding(f);
      }
      if (events.length > 0) this.position = (events[events.length - 1] as StoredEvent).globalSeq;
      // A short page is the head (or, from memory, all this process has committed so far: the
      // next commit, or the poll, brings a round for the rest): no second read to learn that nothing follows.
      if (events.length < this.batchSize) break;
    }
    if (this.position > this.savedPosition && (this.counts.recorded + this.findingCounts.recorded > recordedBefore || Date.now() - this.savedAt >= POSITION_EVERY_MS)) {
      await this.db.execute(
        "INSERT INTO custos_sentinel_position (name, position) VALUES ('sentinel', $1) ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
        [this.position],
      );
      this.savedPosition = this.position;
      this.savedAt = Date.now();
    }
    return this.position;
  }

  /**
   * Records a finding on its own stream ('no-stream': recorded once; after a crash the replay
   * raises the same id and finds it there).
   */
  private async recordFinding(raised: FindingRaisedData): Promise<void> {
    const f = raised.rule === 'group-agreement' ? await this.withReviewers(raised) : raised;
    const context: CommandContext = { actor: SENTINEL_ACTOR, correlationId: f.findingId };
    const stream = findingStreamId(f.findingId);
    try {
      await this.findingSteps.handle(stream, { type: 'RaiseFinding', finding: f }, context, { now: new Date(f.at), expectedVersion: 'no-stream' });
      this.findingCounts.recorded += 1;
    } catch (e) {
      if (e instanceof ConcurrencyError && e.streamId === stream) {
        this.findingCounts.alreadyRecorded += 1;
        return;
      }
      throw e;
    }
  }

  /**
   * A group-agreement finding with its reviewers among its actors: the engine holds no review
   * events, so the listed ones are read here (by sequence, and only those whose id and hash
   * match the evidence).
   */
  private async withReviewers(f: FindingRaisedData): Promise<FindingRaisedData> {
    const refs = new Map(f.evidence.map((r) => [r.sequence, r]));
    const reviews = await readEventsAt(this.db, [...refs.keys()]);
    const reviewers = reviews.filter((e) => refs.get(e.globalSeq)?.eventId === e.eventId && refs.get(e.globalSeq)?.hash === e.hash).map((e) => actorOf(e));
    return { ...f, actors: [...new Set([...(f.actors ?? []), ...reviewers.filter((a): a is string => a !== null)])] };
  }

  /**
   * Records a detection with the incident it opens or joins, in one transaction: the detection
   * on its own stream ('no-stream': recorded once), the incident's event decided by the
   * incident decider (opening twice is refused by the store, linking twice records nothing).
   */
  private async record(d: Detection, incidentId: string, opens: boolean): Promise<void> {
    const context: CommandContext = { actor: SENTINEL_ACTOR, correlationId: d.detectionId };
    const occurredAt = new Date(d.at);
    const detection: AppendRequest = {
      streamId: detectionStreamId(d.detectionId),
      events: [{ ...detectionCodec.encode({ type: 'DetectionRaised', data: d }), metadata: metadataFor(context), occurredAt }],
      expectedVersion: 'no-stream',
    };
    const stream = incidentStreamId(incidentId);
    const command: IncidentCommand = opens
      ? {
          type: 'OpenIncident',
          opened: {
            incidentId,
            source: 'sentinel',
            title: `${d.rule} (${d.subject.kind} ${d.subject.id})`,
            severity: d.severity,
            subject: d.subject,
            detectionIds: [d.detectionId],
            rules: [d.rule],
            patientIds: d.patientIds,
            discoveredAt: d.at,
            openedAt: d.at,
            evidence: d.evidence,
          },
        }
      : { type: 'LinkDetection', detectionId: d.detectionId, rule: d.rule, severity: d.severity, patientIds: d.patientIds, evidence: d.evidence, at: d.at };
    try {
      await this.incidents.handle(stream, command, context, {
        now: occurredAt,
        alongside: [detection],
        // Opening: the incident must not exist. Linking: appended at the version read, decided again if an officer wrote meanwhile.
        ...(opens ? { expectedVersion: 'no-stream' as const } : { retry: { when: (e: ConcurrencyError) => e.streamId === stream, attempts: 5 } }),
      });
      this.counts.recorded += 1;
      for (const listener of this.listeners) listener(d);
    } catch (e) {
      if (e instanceof ConcurrencyError && e.streamId === detection.streamId) {
        this.counts.alreadyRecorded += 1;
        return;
      }
      if (opens && e instanceof ConcurrencyError) {
        // The incident exists but the detection does not: an incident opened by a replay of another detection id; join it.
        this.logger.warn({ incidentId }, 'sentinel: incident already open; linking the detection to it');
        await this.record(d, incidentId, false);
        return;
      }
      if (!opens && e instanceof CustosError && (e.code === 'incident-ended' || e.code === 'incident-not-found')) {
        const next = this.core.reroute(d, incidentId);
        this.logger.warn({ incidentId, next: next.incidentId }, 'sentinel: the incident has ended; the detection goes to a new one');
        await this.record(d, next.incidentId, next.opens);
        return;
      }
      throw e;
    }
  }
}
