import { createHash } from 'node:crypto';
import type { EvidenceRef } from './incident.events.js';

/**
 * Fairness watched continuously: the sentinel's dataset rules. Each raises a finding for data
 * stewards (not a security incident) naming its evidence like a detection does. Pure: events in
 * global order in, findings out; time is the events' own, and a finding's id is derived from its
 * rule, subject and evidence, so a replay of the same log raises the same findings.
 *
 * The rules read the log's own events (balance releases, snapshots, models, consents, images) by
 * their stored shape; nothing here imports the contexts that write them, so each field is checked
 * before it is trusted (a malformed event is skipped, never a crash).
 */
export const FINDING_RULE_IDS = ['snapshot-while-flagged', 'evaluation-gap', 'consent-loss', 'group-agreement'] as const;
export type FindingRuleId = (typeof FINDING_RULE_IDS)[number];

export const FINDING_RULE_VERSIONS: Readonly<Record<FindingRuleId, number>> = {
  // 2: flags kept per group until a release clears them (1: the latest release's flags only).
  'snapshot-while-flagged': 2,
  'evaluation-gap': 1,
  'consent-loss': 1,
  'group-agreement': 1,
};

export interface FindingParameters {
  /** consent-loss: a model is found when more than this share of its snapshots' patients withdrew AI_TRAINING after the snapshot. */
  readonly maxConsentLoss: number;
  /**
   * group-agreement: the least kappa over a group's last `kappaWindow` reviews. The gateway
   * measures (it holds the keys to the demographics) and records the threshold and window it
   * used in each `GroupAgreementMeasured`; the rule judges the recorded state, so these two are
   * for reference only.
   */
  readonly minKappa: number;
  readonly kappaWindow: number;
}

export const DEFAULT_FINDING_PARAMETERS: FindingParameters = { maxConsentLoss: 0.1, minKappa: 0.6, kappaWindow: 50 };

export interface FindingRaisedData {
  /** Deterministic: rule, subject and evidence. */
  readonly findingId: string;
  readonly rule: FindingRuleId;
  readonly ruleVersion: number;
  readonly datasetId?: string;
  readonly modelId?: string;
  /** What was found, in words; never a patient. */
  readonly summary: string;
  /** Counts and names behind it (groups, gaps, shares); never a patient. */
  readonly facts: Readonly<Record<string, unknown>>;
  readonly evidence: readonly EvidenceRef[];
  /**
   * Whose own actions the finding is about (the actor ids of its evidence events: the snapshot
   * taker, the releases' requesters, the model registrant, the evaluation submitter, the
   * reviewers): none of them may move it on. Absent in findings raised before: none.
   */
  readonly actors?: readonly string[];
  /** The triggering event's time. */
  readonly at: string;
}

/** What the rules read of a stored event (a StoredEvent is one). */
export interface LoggedEvent {
  readonly eventId: string;
  readonly globalSeq: number;
  readonly hash: string;
  readonly type: string;
  readonly streamId: string;
  readonly occurredAt: string;
  readonly data: unknown;
  /** The event's metadata (its actor: whose action it records). */
  readonly metadata?: unknown;
}

/** At most this many evidence refs per finding (the newest consent withdrawals past it are counted in facts, not listed). */
export const MAX_FINDING_EVIDENCE = 200;

export function findingIdOf(rule: FindingRuleId, subject: string, evidence: readonly EvidenceRef[]): string {
  const h = createHash('sha256').update(JSON.stringify([rule, subject, evidence.map((e) => e.eventId)])).digest('hex');
  return `fnd-${h.slice(0, 24)}`;
}

export function findingStreamId(findingId: string): string {
  return `finding-${findingId}`;
}

type Data = Record<string, unknown>;
const obj = (v: unknown): Data | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Data) : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const refOf = (e: LoggedEvent): EvidenceRef => ({ eventId: e.eventId, sequence: e.globalSeq, hash: e.hash });
/** The actor id an event's metadata names (null: none). */
export const actorOf = (e: { readonly metadata?: unknown }): string | null => str(obj(obj(e.metadata)?.actor)?.id);
/** Distinct actor ids, in first-seen order, nulls dropped. */
const actorsOf = (...ids: ReadonlyArray<string | null | undefined>): string[] => [...new Set(ids.filter((id): id is string => typeof id === 'string' && id.length > 0))];

/** A group a release flagged, until a later release clears it. */
interface FlagHeld {
  readonly flag: { kind: unknown; dimension: unknown; group: unknown; label?: unknown; interval: unknown };
  readonly ref: EvidenceRef;
  readonly releaseId: string;
  readonly referenceVersion: unknown;
  /** The release's requester (and its recording actor). */
  readonly actors: readonly string[];
}

/** A flagged group's identity: kind, dimension, group, label. */
const flagKey = (f: unknown): string => {
  const g = obj(f) ?? {};
  return JSON.stringify([g.kind ?? null, g.dimension ?? null, g.group ?? null, g.label ?? null]);
};

interface SnapshotSeen {
  readonly ref: EvidenceRef;
  readonly at: number;
  readonly datasetId: string;
  readonly patients: ReadonlySet<string>;
  /** Who took it. */
  readonly actor: string | null;
}

interface ModelSeen {
  readonly modelId: string;
  readonly ref: EvidenceRef;
  /** Who registered it. */
  readonly actor: string | null;
  readonly snapshotIds: readonly string[];
  /** Every patient of its snapshots (found at registration). */
  readonly patients: number;
  /** Patients lost: withdrew AI_TRAINING after a snapshot of this model that holds them, and not granted since; their withdrawal's ref. */
  readonly lost: Map<string, EvidenceRef>;
  /** A consent-loss finding stands for this model (until it is resolved). */
  armed: boolean;
}

/** The dataset rules' state, folded over the log in global order. */
export class FindingsEngine {
  /**
   * Per dataset, the groups flagged by a balance release and not cleared since (by kind,
   * dimension, group, label), each with the latest release that flagged it. A release adds its
   * `flagged` and removes its `cleared`; a group in neither (too noisy to say, another
   * dimension, no reference) keeps what an earlier release said of it.
   */
  private readonly flags = new Map<string, Map<string, FlagHeld>>();
  private readonly imagePatient = new Map<string, string>();
  private readonly snapshots = new Map<string, SnapshotSeen>();
  private readonly models = new Map<string, ModelSeen>();
  /** Patient → the models whose snapshots hold them, with the earliest such snapshot's time per model. */
  private readonly patientModels = new Map<string, Map<string, number>>();
  /** A consent-loss finding's id → its model (to re-arm the rule when a steward resolves it). */
  private readonly consentFindings = new Map<string, string>();
  /** Groups (dataset, dimension, group) whose agreement finding stands until a measurement at or above the threshold. */
  private readonly agreementBelow = new Set<string>();

  constructor(readonly parameters: FindingParameters = DEFAULT_FINDING_PARAMETERS) {
    if (!(parameters.maxConsentLoss >= 0 && parameters.maxConsentLoss <= 1)) throw new Error(`maxConsentLoss must be from 0 to 1 (is ${parameters.maxConsentLoss})`);
  }

  observe(e: LoggedEvent): FindingRaisedData[] {
    const d = obj(e.data) ?? {};
    switch (e.type) {
      case 'BalanceReleased':
        return this.released(e, d);
      case 'DatasetSnapshotted':
        return this.snapshotted(e, d);
      case 'ImageRegistered': {
        const imageId = str(d.imageId);
        const patientId = str(d.patientId);
        if (imageId && patientId) this.imagePatient.set(imageId, patientId);
        return [];
      }
      case 'ModelRegistered':
        return this.registered(e, d);
      case 'ModelEvaluated':
        return this.evaluated(e, d);
      case 'GroupAgreementMeasured':
        return this.agreement(e, d);
      case 'ConsentChanged':
      case 'ConsentWithdrawn':
        return this.consent(e, d);
      case 'FindingRaised': {
        const id = str(d.findingId);
        const modelId = str(d.modelId);
        if (d.rule === 'consent-loss' && id && modelId) this.consentFindings.set(id, modelId);
        return [];
      }
      case 'FindingTransitioned': {
        const id = str(d.findingId);
        const modelId = id ? this.consentFindings.get(id) : undefined;
        const model = modelId ? this.models.get(modelId) : undefined;
        // Resolved: the rule watches the model again (a further loss past the threshold raises a new finding).
        if (model && d.to === 'resolved') model.armed = false;
        return [];
      }
      default:
        return [];
    }
  }

  private released(e: LoggedEvent, d: Data): FindingRaisedData[] {
    const datasetId = str(d.datasetId);
    if (!datasetId) return [];
    let held = this.flags.get(datasetId);
    if (!held) this.flags.set(datasetId, (held = new Map()));
    for (const c of arr(d.cleared)) held.delete(flagKey(c));
    const ref = refOf(e);
    const releaseId = str(d.releaseId) ?? '';
    const actors = actorsOf(str(d.requester), actorOf(e));
    for (const f of arr(d.flagged)) {
      const g = obj(f);
      if (!g) continue;
      const flag = { kind: g.kind, dimension: g.dimension, group: g.group, ...(g.label !== undefined ? { label: g.label } : {}), interval: g.interval };
      held.set(flagKey(g), { flag, ref, releaseId, referenceVersion: d.referenceVersion ?? null, actors });
    }
    if (held.size === 0) this.flags.delete(datasetId);
    return [];
  }

  private snapshotted(e: LoggedEvent, d: Data): FindingRaisedData[] {
    const datasetId = str(d.datasetId);
    const snapshotId = str(d.snapshotId);
    if (!datasetId || !snapshotId) return [];
    const patients = new Set<string>();
    for (const entry of arr(d.entries)) {
      const imageId = str(obj(entry)?.imageId);
      const patientId = imageId ? this.imagePatient.get(imageId) : undefined;
      if (patientId) patients.add(patientId);
    }
    const at = Date.parse(e.occurredAt);
    const taker = actorOf(e);
    this.snapshots.set(snapshotId, { ref: refOf(e), at, datasetId, patients, actor: taker });
    const held = [...(this.flags.get(datasetId)?.values() ?? [])];
    if (held.length === 0) return [];
    // The releases that flagged the groups still flagged, in log order; the latest names the reference version.
    const releases = [...new Map(held.map((h) => [h.ref.eventId, h])).values()].sort((a, b) => a.ref.sequence - b.ref.sequence);
    const latest = releases[releases.length - 1] as FlagHeld;
    const flagged = held.map((h) => ({ ...h.flag, releaseId: h.releaseId }));
    const evidence = [...releases.map((r) => r.ref), refOf(e)];
    const names = flagged.map((f) => `${String(f.dimension)}=${String(f.group)}${f.label !== undefined ? ` (${String(f.label)})` : ''}`);
    return [
      {
        findingId: findingIdOf('snapshot-while-flagged', `dataset:${datasetId}`, evidence),
        rule: 'snapshot-while-flagged',
        ruleVersion: FINDING_RULE_VERSIONS['snapshot-while-flagged'],
        datasetId,
        summary: `snapshot ${snapshotId} of dataset ${datasetId} was taken while balance releases flagged ${flagged.length} group(s) no release has cleared since: ${names.slice(0, 10).join(', ')}`,
        facts: { snapshotId, releaseId: latest.releaseId, releaseIds: releases.map((r) => r.releaseId), referenceVersion: latest.referenceVersion, flagged },
        evidence,
        actors: actorsOf(taker, ...releases.flatMap((r) => r.actors)),
        at: e.occurredAt,
      },
    ];
  }

  private registered(e: LoggedEvent, d: Data): FindingRaisedData[] {
    const modelId = str(d.modelId);
    if (!modelId || this.models.has(modelId)) return [];
    const snapshotIds = [...new Set([...arr(d.trainedOn), ...arr(d.validatedOn)].map((s) => str(obj(s)?.snapshotId)).filter((s): s is string => s !== null))];
    const earliest = new Map<string, number>();
    for (const id of snapshotIds) {
      const s = this.snapshots.get(id);
      if (!s) continue;
      for (const p of s.patients) earliest.set(p, Math.min(earliest.get(p) ?? Infinity, s.at));
    }
    const model: ModelSeen = { modelId, ref: refOf(e), actor: actorOf(e), snapshotIds, patients: earliest.size, lost: new Map(), armed: false };
    this.models.set(modelId, model);
    for (const [p, at] of earliest) {
      let m = this.patientModels.get(p);
      if (!m) this.patientModels.set(p, (m = new Map()));
      m.set(modelId, at);
      // Withdrawals recorded between the snapshot and the model's registration count as well.
      const w = this.withdrawn.get(p);
      if (w && w.at > at) model.lost.set(p, w.ref);
    }
    return this.judgeConsent(model, e);
  }

  /** Patients whose latest AI_TRAINING choice is a withdrawal: when, and the event. */
  private readonly withdrawn = new Map<string, { at: number; ref: EvidenceRef }>();

  private consent(e: LoggedEvent, d: Data): FindingRaisedData[] {
    if (d.purpose !== 'AI_TRAINING') return [];
    const patientId = str(d.patientId) ?? e.streamId.replace(/^consent-/, '');
    // AI_TRAINING is denied by default: a withdrawal of the explicit choice, or a denial, takes the patient out.
    const withdrawal = e.type === 'ConsentWithdrawn' || d.status === 'denied';
    const at = Date.parse(e.occurredAt);
    const models = this.patientModels.get(patientId);
    if (!withdrawal) {
      this.withdrawn.delete(patientId);
      for (const modelId of models?.keys() ?? []) this.models.get(modelId)?.lost.delete(patientId);
      return [];
    }
    this.withdrawn.set(patientId, { at, ref: refOf(e) });
    const out: FindingRaisedData[] = [];
    for (const [modelId, since] of models ?? []) {
      const model = this.models.get(modelId);
      if (!model || at <= since) continue;
      model.lost.set(patientId, refOf(e));
      out.push(...this.judgeConsent(model, e));
    }
    return out;
  }

  private judgeConsent(model: ModelSeen, e: LoggedEvent): FindingRaisedData[] {
    if (model.armed || model.patients === 0) return [];
    const share = model.lost.size / model.patients;
    if (share <= this.parameters.maxConsentLoss) return [];
    model.armed = true;
    const withdrawals = [...model.lost.values()].sort((a, b) => a.sequence - b.sequence);
    const seen = model.snapshotIds.map((id) => this.snapshots.get(id)).filter((s): s is SnapshotSeen => s !== undefined);
    const snapshotRefs = seen.map((s) => s.ref);
    const evidence = [model.ref, ...snapshotRefs, ...withdrawals.slice(-Math.max(0, MAX_FINDING_EVIDENCE - 1 - snapshotRefs.length))];
    const perSnapshot = model.snapshotIds.map((id) => {
      const s = this.snapshots.get(id);
      if (!s) return { snapshotId: id, patients: 0, withdrawn: 0, known: false };
      let withdrawn = 0;
      for (const p of s.patients) if (model.lost.has(p) && (this.withdrawn.get(p)?.at ?? 0) > s.at) withdrawn++;
      return { snapshotId: id, datasetId: s.datasetId, patients: s.patients.size, withdrawn, known: true };
    });
    const percent = (share * 100).toFixed(1);
    return [
      {
        findingId: findingIdOf('consent-loss', `model:${model.modelId}`, evidence),
        rule: 'consent-loss',
        ruleVersion: FINDING_RULE_VERSIONS['consent-loss'],
        modelId: model.modelId,
        summary: `model ${model.modelId}: ${model.lost.size} of the ${model.patients} patients in its snapshots (${percent}%) withdrew AI_TRAINING consent after the snapshot (threshold ${(this.parameters.maxConsentLoss * 100).toFixed(1)}%)`,
        facts: { patients: model.patients, withdrawn: model.lost.size, share: Number(share.toFixed(6)), threshold: this.parameters.maxConsentLoss, perSnapshot, withdrawalsListed: Math.min(withdrawals.length, evidence.length - 1 - snapshotRefs.length) },
        evidence,
        // The registrant and the snapshot takers; a withdrawal is the patient's choice, not an action the finding is about.
        actors: actorsOf(model.actor, ...seen.map((s) => s.actor)),
        at: e.occurredAt,
      },
    ];
  }

  private evaluated(e: LoggedEvent, d: Data): FindingRaisedData[] {
    const modelId = str(d.modelId);
    const flagged = arr(d.flagged);
    if (!modelId || flagged.length === 0) return [];
    const gaps = flagged.map((f) => {
      const g = obj(f) ?? {};
      return { dimension: g.dimension, metric: g.metric, gap: g.gap, groups: g.groups };
    });
    const test = obj(d.testSnapshot) ?? {};
    const datasetId = str(test.datasetId);
    const evidence = [refOf(e)];
    const model = this.models.get(modelId);
    if (model) evidence.unshift(model.ref);
    const worst = gaps.map((g) => `${String(g.metric)} by ${String(g.dimension)}: ${typeof g.gap === 'number' ? g.gap.toFixed(3) : '?'}`);
    return [
      {
        findingId: findingIdOf('evaluation-gap', `model:${modelId}`, evidence),
        rule: 'evaluation-gap',
        ruleVersion: FINDING_RULE_VERSIONS['evaluation-gap'],
        modelId,
        ...(datasetId ? { datasetId } : {}),
        summary: `evaluation ${str(d.evaluationId) ?? '?'} of model ${modelId} flagged ${gaps.length} gap(s) between groups: ${worst.slice(0, 10).join('; ')}`,
        facts: { evaluationId: str(d.evaluationId), testSnapshotId: str(test.snapshotId), thresholds: d.thresholds ?? null, flagged: gaps, tooSmall: arr(d.tooSmall).length },
        evidence,
        actors: actorsOf(actorOf(e), model?.actor),
        at: e.occurredAt,
      },
    ];
  }

  /**
   * A group's agreement measured below the threshold (the gateway records a measurement only
   * when the group's state changes) raises a finding; a later measurement at or above re-arms
   * the rule for that group.
   */
  private agreement(e: LoggedEvent, d: Data): FindingRaisedData[] {
    const datasetId = str(d.datasetId);
    const dimension = str(d.dimension);
    const group = str(d.group);
    if (!datasetId || !dimension || !group) return [];
    const key = JSON.stringify([datasetId, dimension, group]);
    if (d.state === 'at-or-above') {
      this.agreementBelow.delete(key);
      return [];
    }
    if (d.state !== 'below' || this.agreementBelow.has(key)) return [];
    this.agreementBelow.add(key);
    const reviews = arr(d.reviews)
      .map((r) => obj(r))
      .filter((r): r is Data => r !== null && str(r.eventId) !== null && typeof r.sequence === 'number' && str(r.hash) !== null)
      .map((r): EvidenceRef => ({ eventId: r.eventId as string, sequence: r.sequence as number, hash: r.hash as string }))
      .sort((a, b) => a.sequence - b.sequence);
    const listed = reviews.slice(-(MAX_FINDING_EVIDENCE - 1));
    const evidence = [refOf(e), ...listed];
    const kappa = typeof d.kappa === 'number' ? d.kappa : null;
    const minKappa = typeof d.minKappa === 'number' ? d.minKappa : null;
    return [
      {
        findingId: findingIdOf('group-agreement', `dataset:${datasetId}:${dimension}=${group}`, evidence),
        rule: 'group-agreement',
        ruleVersion: FINDING_RULE_VERSIONS['group-agreement'],
        datasetId,
        summary: `dataset ${datasetId}: annotator agreement for ${dimension}=${group} fell to kappa ${kappa === null ? '?' : kappa.toFixed(3)} over its last ${String(d.window ?? '?')} reviews (threshold ${minKappa === null ? '?' : minKappa.toFixed(2)})`,
        facts: { dimension, group, kappa, images: typeof d.images === 'number' ? d.images : null, window: typeof d.window === 'number' ? d.window : null, minKappa, reviews: reviews.length, reviewsListed: listed.length },
        evidence,
        // The measurement's actor here; the runner adds the reviewers of the listed reviews (their events are not held in memory).
        actors: actorsOf(actorOf(e)),
        at: e.occurredAt,
      },
    ];
  }
}
