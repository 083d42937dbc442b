import { createHash } from 'node:crypto';
import type { EvidenceRef, Severity } from './incident.events.js';

/**
 * The sentinel's rules: named, versioned, with parameters (defaults below, all configurable
 * and validated at start). Pure: observations in global order in, detections out; time is the
 * observed events' own, so a replay of the same log raises the same detections.
 */
export const RULE_IDS = [
  'volume-spike',
  'many-patients',
  'after-hours',
  'vip-access',
  'relationship',
  'denied-burst',
  'btg-overuse',
  'post-withdrawal',
  'bulk-export',
  'dormant-account',
  'repeat-offender',
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export const RULE_VERSIONS: Readonly<Record<RuleId, number>> = {
  'volume-spike': 1,
  'many-patients': 1,
  'after-hours': 1,
  'vip-access': 1,
  relationship: 1,
  'denied-burst': 1,
  'btg-overuse': 1,
  'post-withdrawal': 1,
  'bulk-export': 1,
  'dormant-account': 1,
  'repeat-offender': 1,
};

export interface SentinelParameters {
  readonly volumeSpike: { readonly sigmas: number; readonly floor: number; readonly baselineDays: number; readonly warmUpDays: number };
  readonly manyPatients: { readonly perHour: number; readonly perDay: number; readonly exemptRoles: readonly string[] };
  readonly afterHours: { readonly startHour: number; readonly endHour: number; readonly weekends: boolean; readonly baselineDays: number; readonly warmUpDays: number };
  readonly vipAccess: { readonly actorsPerDay: number; readonly explainingPurposes: readonly string[] };
  readonly relationship: { readonly rareNameAtMost: number };
  readonly deniedBurst: { readonly denials: number; readonly patients: number; readonly windowMinutes: number };
  readonly btgOveruse: { readonly perWeek: number; readonly reviewHours: number };
  readonly bulkExport: { readonly perExport: number; readonly perDay: number };
  readonly dormantAccount: { readonly idleDays: number };
  /** One case per rule, actor and patient within this many hours. */
  readonly coolDownHours: number;
  /** Detections of one subject within this many hours of the last go into one incident. */
  readonly aggregateHours: number;
}

export const DEFAULT_PARAMETERS: SentinelParameters = {
  volumeSpike: { sigmas: 4, floor: 50, baselineDays: 28, warmUpDays: 14 },
  manyPatients: { perHour: 30, perDay: 150, exemptRoles: [] },
  afterHours: { startHour: 22, endHour: 6, weekends: true, baselineDays: 28, warmUpDays: 14 },
  vipAccess: { actorsPerDay: 5, explainingPurposes: ['TREATMENT'] },
  relationship: { rareNameAtMost: 20 },
  deniedBurst: { denials: 10, patients: 5, windowMinutes: 10 },
  btgOveruse: { perWeek: 3, reviewHours: 72 },
  bulkExport: { perExport: 50, perDay: 200 },
  dormantAccount: { idleDays: 90 },
  coolDownHours: 24,
  aggregateHours: 24,
};

/** Checks parameters at start: a rule with a nonsensical threshold must stop the sentinel, not go quiet. */
export function validateParameters(p: SentinelParameters): string[] {
  const problems: string[] = [];
  const positive = (name: string, v: number) => {
    if (!Number.isFinite(v) || v <= 0) problems.push(`${name} must be a positive number (is ${v})`);
  };
  positive('volumeSpike.sigmas', p.volumeSpike.sigmas);
  positive('volumeSpike.floor', p.volumeSpike.floor);
  positive('volumeSpike.baselineDays', p.volumeSpike.baselineDays);
  positive('manyPatients.perHour', p.manyPatients.perHour);
  positive('manyPatients.perDay', p.manyPatients.perDay);
  positive('vipAccess.actorsPerDay', p.vipAccess.actorsPerDay);
  positive('relationship.rareNameAtMost', p.relationship.rareNameAtMost);
  positive('deniedBurst.denials', p.deniedBurst.denials);
  positive('deniedBurst.patients', p.deniedBurst.patients);
  positive('deniedBurst.windowMinutes', p.deniedBurst.windowMinutes);
  positive('btgOveruse.perWeek', p.btgOveruse.perWeek);
  positive('btgOveruse.reviewHours', p.btgOveruse.reviewHours);
  positive('bulkExport.perExport', p.bulkExport.perExport);
  positive('bulkExport.perDay', p.bulkExport.perDay);
  positive('dormantAccount.idleDays', p.dormantAccount.idleDays);
  positive('coolDownHours', p.coolDownHours);
  positive('aggregateHours', p.aggregateHours);
  for (const [name, h] of [
    ['afterHours.startHour', p.afterHours.startHour],
    ['afterHours.endHour', p.afterHours.endHour],
  ] as const) {
    if (!Number.isInteger(h) || h < 0 || h > 23) problems.push(`${name} must be an hour 0-23 (is ${h})`);
  }
  return problems;
}

/** What the sentinel reads from the log, reduced to what rules need (the runner maps stored events to these). */
export type Observation =
  | {
      readonly kind: 'access';
      readonly ref: EvidenceRef;
      readonly at: number;
      readonly actorId: string;
      readonly roles: readonly string[];
      readonly patientId: string | null;
      readonly decision: 'PERMIT' | 'DENY';
      readonly emergency: boolean;
      readonly consentVersion: number;
      readonly purpose: string;
    }
  | { readonly kind: 'consent'; readonly at: number; readonly patientId: string; readonly version: number }
  | { readonly kind: 'emergency-reviewed'; readonly at: number; readonly accessEventId: string }
  | { readonly kind: 'export'; readonly ref: EvidenceRef; readonly at: number; readonly actorId: string; readonly patientIds: readonly string[] }
  | { readonly kind: 'patient-profile'; readonly at: number; readonly patientId: string; readonly vip: boolean; readonly employee: boolean; readonly familyNameIndex: string; readonly addressIndex: string }
  | {
      readonly kind: 'workforce';
      readonly at: number;
      readonly actorId: string;
      readonly status: 'active' | 'terminated';
      readonly since: number;
      readonly familyNameIndex: string;
      readonly addressIndex: string;
      readonly patientId: string | null;
    }
  | { readonly kind: 'verdict'; readonly at: number; readonly actorId: string; readonly verdict: 'true-positive' | 'false-positive' | 'duplicate' };

export interface Detection {
  /** Deterministic: rule, subject and window; the same log raises the same ids. */
  readonly detectionId: string;
  readonly rule: RuleId;
  readonly ruleVersion: number;
  readonly subject: { readonly kind: 'actor' | 'patient'; readonly id: string };
  readonly actorIds: readonly string[];
  readonly patientIds: readonly string[];
  readonly severity: Severity;
  /** The window the rule looked at, ISO instants. */
  readonly window: { readonly from: string; readonly to: string };
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Counts and reasons behind it. */
  readonly facts: Readonly<Record<string, unknown>>;
  readonly evidence: readonly EvidenceRef[];
  /** The triggering event's time. */
  readonly at: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MAX_EVIDENCE = 200;

interface AccessSeen {
  readonly ref: EvidenceRef;
  readonly at: number;
  readonly patientId: string | null;
  readonly decision: 'PERMIT' | 'DENY';
}

interface ActorState {
  firstAt: number;
  lastAt: number;
  /** Accesses of the last 24 hours (PERMIT and DENY), oldest first. */
  recent: AccessSeen[];
  /** Permitted reads per UTC hour bucket (hour number since the epoch), for baselines. */
  hourly: Map<number, number>;
  /** Emergency accesses of the last 7 days. */
  emergencies: Array<{ ref: EvidenceRef; at: number }>;
  /** Patients exported per UTC day. */
  exports: Map<number, Set<string>>;
  confirmedIncident: boolean;
}

const bucketHour = (at: number) => Math.floor(at / HOUR);
const bucketDay = (at: number) => Math.floor(at / DAY);
const iso = (at: number) => new Date(at).toISOString();

/**
 * The rules' state, built from observations in global order. `observe` returns what the new
 * observation raises; a cool-down per rule, subject and patient keeps one case from raising a
 * detection per event.
 */
export class SentinelEngine {
  private readonly actors = new Map<string, ActorState>();
  private readonly profiles = new Map<string, { vip: boolean; employee: boolean; familyNameIndex: string; addressIndex: string }>();
  private readonly familyNames = new Map<string, number>();
  private readonly workforce = new Map<string, { status: 'active' | 'terminated'; since: number; familyNameIndex: string; addressIndex: string; patientId: string | null }>();
  private readonly consentVersions = new Map<string, number>();
  /** VIP patient → actor → last permitted access. */
  private readonly vipActors = new Map<string, Map<string, { at: number; ref: EvidenceRef }>>();
  private readonly pendingReviews = new Map<string, { actorId: string; ref: EvidenceRef; at: number }>();
  private readonly lastRaised = new Map<string, number>();

  constructor(readonly parameters: SentinelParameters = DEFAULT_PARAMETERS) {
    const problems = validateParameters(parameters);
    if (problems.length > 0) throw new Error(`sentinel parameters: ${problems.join('; ')}`);
  }

  observe(o: Observation): Detection[] {
    switch (o.kind) {
      case 'access':
        return this.access(o);
      case 'consent':
        this.consentVersions.set(o.patientId, Math.max(o.version, this.consentVersions.get(o.patientId) ?? 0));
        return this.overdueReviews(o.at);
      case 'emergency-reviewed':
        this.pendingReviews.delete(o.accessEventId);
        return [];
      case 'export':
        return this.exportSeen(o);
      case 'patient-profile': {
        const before = this.profiles.get(o.patientId);
        if (before) this.familyNames.set(before.familyNameIndex, (this.familyNames.get(before.familyNameIndex) ?? 1) - 1);
        this.profiles.set(o.patientId, { vip: o.vip, employee: o.employee, familyNameIndex: o.familyNameIndex, addressIndex: o.addressIndex });
        this.familyNames.set(o.familyNameIndex, (this.familyNames.get(o.familyNameIndex) ?? 0) + 1);
        return [];
      }
      case 'workforce':
        this.workforce.set(o.actorId, { status: o.status, since: o.since, familyNameIndex: o.familyNameIndex, addressIndex: o.addressIndex, patientId: o.patientId });
        return [];
      case 'verdict':
        if (o.verdict === 'true-positive') this.actor(o.actorId, o.at).confirmedIncident = true;
        return [];
    }
  }

  private actor(actorId: string, at: number): ActorState {
    let a = this.actors.get(actorId);
    if (!a) {
      a = { firstAt: at, lastAt: at, recent: [], hourly: new Map(), emergencies: [], exports: new Map(), confirmedIncident: false };
      this.actors.set(actorId, a);
    }
    return a;
  }

  /** Whether a case may be raised now (and, if so, notes that it was). */
  private due(key: string, at: number): boolean {
    const last = this.lastRaised.get(key);
    if (last !== undefined && at - last < this.parameters.coolDownHours * HOUR) return false;
    this.lastRaised.set(key, at);
    return true;
  }

  private detection(
    rule: RuleId,
    subject: Detection['subject'],
    window: { from: number; to: number },
    severity: Severity,
    patientIds: readonly string[],
    evidence: readonly EvidenceRef[],
    facts: Record<string, unknown>,
    parameters: Record<string, unknown>,
    at: number,
    actorIds: readonly string[] = subject.kind === 'actor' ? [subject.id] : [],
  ): Detection {
    // A confirmed earlier incident on the actor raises the severity one step (repeat-offender).
    let level = severity;
    const offenders = actorIds.filter((id) => this.actors.get(id)?.confirmedIncident);
    if (offenders.length > 0 && rule !== 'after-hours') {
      level = (['low', 'medium', 'high', 'critical'] as const)[Math.min(3, ['low', 'medium', 'high', 'critical'].indexOf(severity) + 1)] as Severity;
      facts = { ...facts, repeatOffender: offenders };
    }
    return {
      detectionId: `${rule}:${subject.kind}:${subject.id}:${iso(window.from)}`,
      rule,
      ruleVersion: RULE_VERSIONS[rule],
      subject,
      actorIds,
      patientIds: [...new Set(patientIds)].sort(),
      severity: level,
      window: { from: iso(window.from), to: iso(window.to) },
      parameters,
      facts,
      evidence: evidence.slice(-MAX_EVIDENCE),
      at: iso(at),
    };
  }

  private access(o: Extract<Observation, { kind: 'access' }>): Detection[] {
    const p = this.parameters;
    const out: Detection[] = this.overdueReviews(o.at);
    const a = this.actor(o.actorId, o.at);
    const idleBefore = o.at - a.lastAt;
    const seen: AccessSeen = { ref: o.ref, at: o.at, patientId: o.patientId, decision: o.decision };
    a.recent.push(seen);
    while (a.recent.length > 0 && (a.recent[0] as AccessSeen).at <= o.at - DAY) a.recent.shift();
    const subject = { kind: 'actor' as const, id: o.actorId };

    // dormant-account: activity by a terminated account, or after a long silence.
    const member = this.workforce.get(o.actorId);
    if (member?.status === 'terminated' && o.at >= member.since && this.due(`dormant-account:${o.actorId}:terminated`, o.at)) {
      out.push(this.detection('dormant-account', subject, { from: member.since, to: o.at }, 'high', o.patientId ? [o.patientId] : [], [o.ref], { reason: 'terminated', terminatedSince: iso(member.since) }, p.dormantAccount, o.at));
    } else if (idleBefore > p.dormantAccount.idleDays * DAY && this.due(`dormant-account:${o.actorId}:idle`, o.at)) {
      out.push(this.detection('dormant-account', subject, { from: a.lastAt, to: o.at }, 'medium', o.patientId ? [o.patientId] : [], [o.ref], { reason: 'idle', idleDays: Math.floor(idleBefore / DAY) }, p.dormantAccount, o.at));
    }

    if (o.decision === 'DENY') {
      out.push(...this.deniedBurst(o, a));
    } else {
      const hour = bucketHour(o.at);
      a.hourly.set(hour, (a.hourly.get(hour) ?? 0) + 1);
      if (o.emergency) {
        a.emergencies.push({ ref: o.ref, at: o.at });
        this.pendingReviews.set(o.ref.eventId, { actorId: o.actorId, ref: o.ref, at: o.at });
      }
      out.push(...this.manyPatients(o, a), ...this.volumeSpike(o, a), ...this.afterHours(o, a), ...this.btgOveruse(o, a));
      if (o.patientId) out.push(...this.vip(o, o.patientId), ...this.relationship(o, o.patientId), ...this.postWithdrawal(o, o.patientId));
    }
    a.lastAt = Math.max(a.lastAt, o.at);
    this.prune(a, o.at);
    return out;
  }

  private deniedBurst(o: Extract<Observation, { kind: 'access' }>, a: ActorState): Detection[] {
    const p = this.parameters.deniedBurst;
    const from = o.at - p.windowMinutes * 60_000;
    const denied = a.recent.filter((s) => s.decision === 'DENY' && s.at > from);
    const patients = new Set(denied.flatMap((s) => (s.patientId ? [s.patientId] : [])));
    if (denied.length < p.denials && patients.size < p.patients) return [];
    if (!this.due(`denied-burst:${o.actorId}`, o.at)) return [];
    return [
      this.detection(
        'denied-burst',
        { kind: 'actor', id: o.actorId },
        { from, to: o.at },
        patients.size >= p.patients ? 'high' : 'medium',
        [...patients],
        denied.map((s) => s.ref),
        { denials: denied.length, distinctPatients: patients.size },
        p,
        o.at,
      ),
    ];
  }

  private manyPatients(o: Extract<Observation, { kind: 'access' }>, a: ActorState): Detection[] {
    const p = this.parameters.manyPatients;
    if (o.roles.some((r) => p.exemptRoles.includes(r))) return [];
    const permits = a.recent.filter((s) => s.decision === 'PERMIT' && s.patientId);
    const lastHour = permits.filter((s) => s.at > o.at - HOUR);
    const hourPatients = new Set(lastHour.map((s) => s.patientId as string));
    const dayPatients = new Set(permits.map((s) => s.patientId as string));
    const out: Detection[] = [];
    if (hourPatients.size >= p.perHour && this.due(`many-patients:${o.actorId}`, o.at)) {
      out.push(this.detection('many-patients', { kind: 'actor', id: o.actorId }, { from: o.at - HOUR, to: o.at }, 'high', [...hourPatients], lastHour.map((s) => s.ref), { distinctPatients: hourPatients.size, window: '60 min' }, p, o.at));
    } else if (dayPatients.size >= p.perDay && this.due(`many-patients:${o.actorId}`, o.at)) {
      out.push(this.detection('many-patients', { kind: 'actor', id: o.actorId }, { from: o.at - DAY, to: o.at }, 'medium', [...dayPatients], permits.map((s) => s.ref), { distinctPatients: dayPatients.size, window: '24 h' }, p, o.at));
    }
    return out;
  }

  /** The same hour of the week in each of the baseline's weeks before this one. */
  private baseline(a: ActorState, at: number, days: number): number[] {
    const hour = bucketHour(at);
    const samples: number[] = [];
    for (let w = 1; w * 7 <= days; w++) samples.push(a.hourly.get(hour - w * 7 * 24) ?? 0);
    return samples;
  }

  private volumeSpike(o: Extract<Observation, { kind: 'access' }>, a: ActorState): Detection[] {
    const p = this.parameters.volumeSpike;
    const count = a.hourly.get(bucketHour(o.at)) ?? 0;
    if (count < p.floor) return [];
    const warm = o.at - a.firstAt >= p.warmUpDays * DAY;
    let threshold = p.floor;
    let mean = 0;
    let sd = 0;
    if (warm) {
      const samples = this.baseline(a, o.at, p.baselineDays);
      mean = samples.reduce((s, v) => s + v, 0) / samples.length;
      sd = Math.sqrt(samples.reduce((s, v) => s + (v - mean) ** 2, 0) / samples.length);
      threshold = Math.max(p.floor, mean + p.sigmas * sd);
      if (count <= mean + p.sigmas * sd) return [];
    }
    if (count < threshold) return [];
    const from = bucketHour(o.at) * HOUR;
    if (!this.due(`volume-spike:${o.actorId}`, o.at)) return [];
    const inHour = a.recent.filter((s) => s.decision === 'PERMIT' && s.at >= from);
    return [
      this.detection(
        'volume-spike',
        { kind: 'actor', id: o.actorId },
        { from, to: o.at },
        'medium',
        inHour.flatMap((s) => (s.patientId ? [s.patientId] : [])),
        inHour.map((s) => s.ref),
        { reads: count, baselineMean: mean, baselineSd: sd, warmedUp: warm },
        p,
        o.at,
      ),
    ];
  }

  private afterHours(o: Extract<Observation, { kind: 'access' }>, a: ActorState): Detection[] {
    const p = this.parameters.afterHours;
    const d = new Date(o.at);
    const h = d.getUTCHours();
    const night = p.startHour > p.endHour ? h >= p.startHour || h < p.endHour : h >= p.startHour && h < p.endHour;
    const weekend = p.weekends && (d.getUTCDay() === 0 || d.getUTCDay() === 6);
    if (!night && !weekend) return [];
    if (o.at - a.firstAt < p.warmUpDays * DAY) return [];
    // Baseline activity at this hour of the day on earlier days.
    const hour = bucketHour(o.at);
    for (let day = 1; day <= p.baselineDays; day++) if ((a.hourly.get(hour - day * 24) ?? 0) > 0) return [];
    if (!this.due(`after-hours:${o.actorId}`, o.at)) return [];
    return [this.detection('after-hours', { kind: 'actor', id: o.actorId }, { from: hour * HOUR, to: o.at }, 'low', o.patientId ? [o.patientId] : [], [o.ref], { hourUtc: h, weekend }, p, o.at)];
  }

  private btgOveruse(o: Extract<Observation, { kind: 'access' }>, a: ActorState): Detection[] {
    const p = this.parameters.btgOveruse;
    if (!o.emergency) return [];
    const week = a.emergencies.filter((e) => e.at > o.at - 7 * DAY);
    if (week.length <= p.perWeek || !this.due(`btg-overuse:${o.actorId}`, o.at)) return [];
    return [this.detection('btg-overuse', { kind: 'actor', id: o.actorId }, { from: o.at - 7 * DAY, to: o.at }, 'medium', o.patientId ? [o.patientId] : [], week.map((e) => e.ref), { emergencies: week.length, reason: 'frequency' }, p, o.at)];
  }

  /** Emergency accesses still unreviewed `reviewHours` after they happened, as of `now` (the newest event's time). */
  private overdueReviews(now: number): Detection[] {
    const p = this.parameters.btgOveruse;
    const out: Detection[] = [];
    for (const [id, r] of this.pendingReviews) {
      if (now - r.at < p.reviewHours * HOUR) continue;
      this.pendingReviews.delete(id);
      out.push(this.detection('btg-overuse', { kind: 'actor', id: r.actorId }, { from: r.at, to: r.at + p.reviewHours * HOUR }, 'low', [], [r.ref], { reason: 'unreviewed', accessEventId: id }, p, now));
    }
    return out;
  }

  private vip(o: Extract<Observation, { kind: 'access' }>, patientId: string): Detection[] {
    const profile = this.profiles.get(patientId);
    if (!profile || !(profile.vip || profile.employee)) return [];
    const p = this.parameters.vipAccess;
    const out: Detection[] = [];
    let actors = this.vipActors.get(patientId);
    if (!actors) this.vipActors.set(patientId, (actors = new Map()));
    actors.set(o.actorId, { at: o.at, ref: o.ref });
    for (const [id, seen] of actors) if (seen.at <= o.at - DAY) actors.delete(id);
    // One actor without an explaining purpose (treatment, by default) or breaking the glass.
    if ((o.emergency || !p.explainingPurposes.includes(o.purpose)) && this.due(`vip-access:${o.actorId}:${patientId}`, o.at)) {
      out.push(this.detection('vip-access', { kind: 'actor', id: o.actorId }, { from: o.at, to: o.at }, 'medium', [patientId], [o.ref], { reason: 'unexplained', purpose: o.purpose, emergency: o.emergency }, p, o.at));
    }
    if (actors.size >= p.actorsPerDay && this.due(`vip-access:patient:${patientId}`, o.at)) {
      const ids = [...actors.keys()].sort();
      out.push(
        this.detection('vip-access', { kind: 'patient', id: patientId }, { from: o.at - DAY, to: o.at }, 'high', [patientId], [...actors.values()].map((s) => s.ref), { reason: 'many-actors', actors: ids.length }, p, o.at, ids),
      );
    }
    return out;
  }

  private relationship(o: Extract<Observation, { kind: 'access' }>, patientId: string): Detection[] {
    const member = this.workforce.get(o.actorId);
    const profile = this.profiles.get(patientId);
    if (!member) return [];
    const reasons: Array<{ reason: string; severity: Severity }> = [];
    if (member.patientId === patientId) reasons.push({ reason: 'self-access', severity: 'high' });
    if (profile) {
      if (profile.addressIndex === member.addressIndex) reasons.push({ reason: 'same-address', severity: 'high' });
      if (profile.familyNameIndex === member.familyNameIndex) {
        const sharing = this.familyNames.get(profile.familyNameIndex) ?? 1;
        reasons.push({ reason: 'same-family-name', severity: sharing <= this.parameters.relationship.rareNameAtMost ? 'medium' : 'low' });
      }
      if (profile.employee && member.patientId !== patientId) reasons.push({ reason: 'co-worker', severity: 'medium' });
    }
    const out: Detection[] = [];
    for (const r of reasons) {
      if (!this.due(`relationship:${o.actorId}:${patientId}:${r.reason}`, o.at)) continue;
      out.push(this.detection('relationship', { kind: 'actor', id: o.actorId }, { from: o.at, to: o.at }, r.severity, [patientId], [o.ref], { reason: r.reason, sharingFamilyName: profile ? (this.familyNames.get(profile.familyNameIndex) ?? 1) : null }, this.parameters.relationship, o.at));
    }
    return out;
  }

  private postWithdrawal(o: Extract<Observation, { kind: 'access' }>, patientId: string): Detection[] {
    const current = this.consentVersions.get(patientId) ?? 0;
    if (o.consentVersion >= current || !this.due(`post-withdrawal:${o.actorId}:${patientId}`, o.at)) return [];
    return [this.detection('post-withdrawal', { kind: 'actor', id: o.actorId }, { from: o.at, to: o.at }, 'high', [patientId], [o.ref], { citedConsentVersion: o.consentVersion, currentConsentVersion: current }, {}, o.at)];
  }

  private exportSeen(o: Extract<Observation, { kind: 'export' }>): Detection[] {
    const p = this.parameters.bulkExport;
    const a = this.actor(o.actorId, o.at);
    const day = bucketDay(o.at);
    let set = a.exports.get(day);
    if (!set) a.exports.set(day, (set = new Set()));
    for (const id of o.patientIds) set.add(id);
    a.lastAt = Math.max(a.lastAt, o.at);
    const subject = { kind: 'actor' as const, id: o.actorId };
    if (o.patientIds.length >= p.perExport && this.due(`bulk-export:${o.actorId}:${o.ref.eventId}`, o.at)) {
      return [this.detection('bulk-export', subject, { from: o.at, to: o.at }, 'high', o.patientIds, [o.ref], { patients: o.patientIds.length, reason: 'one-export' }, p, o.at)];
    }
    if (set.size >= p.perDay && this.due(`bulk-export:${o.actorId}:day`, o.at)) {
      return [this.detection('bulk-export', subject, { from: day * DAY, to: o.at }, 'high', [...set], [o.ref], { patients: set.size, reason: 'per-day' }, p, o.at)];
    }
    return [];
  }

  private prune(a: ActorState, now: number): void {
    const keepHours = Math.max(this.parameters.volumeSpike.baselineDays, this.parameters.afterHours.baselineDays) * 24 + 24;
    if (a.hourly.size > keepHours) for (const h of a.hourly.keys()) if (h < bucketHour(now) - keepHours) a.hourly.delete(h);
    while (a.emergencies.length > 0 && (a.emergencies[0] as { at: number }).at <= now - 7 * DAY) a.emergencies.shift();
    if (a.exports.size > 2) for (const d of a.exports.keys()) if (d < bucketDay(now) - 1) a.exports.delete(d);
  }
}

/**
 * Detections into incidents: one open case per subject (an actor, or a patient for cases
 * about many actors) takes every detection within `aggregateHours` of its last one; after
 * that, or once the case has ended, a new one opens. Deterministic, like the engine.
 */
export class IncidentLinker {
  private readonly open = new Map<string, { incidentId: string; lastAt: number }>();

  constructor(private readonly aggregateHours = DEFAULT_PARAMETERS.aggregateHours) {}

  /** Where a detection goes: an open incident to link it to, or a new one (its id derived from the detection's). */
  route(d: Detection): { incidentId: string; opens: boolean } {
    const key = `${d.subject.kind}:${d.subject.id}`;
    const at = Date.parse(d.at);
    const current = this.open.get(key);
    if (current && at - current.lastAt <= this.aggregateHours * HOUR) {
      current.lastAt = at;
      return { incidentId: current.incidentId, opens: false };
    }
    const incidentId = incidentIdFor(d.detectionId);
    this.open.set(key, { incidentId, lastAt: at });
    return { incidentId, opens: true };
  }

  /** An incident ended (closed, dismissed, merged): later detections open a new one. */
  ended(incidentId: string): void {
    for (const [key, v] of this.open) if (v.incidentId === incidentId) this.open.delete(key);
  }
}

/** A short, stable id from a detection id: replays open the same incident. */
export function incidentIdFor(detectionId: string): string {
  return `inc-${createHash('sha256').update(detectionId).digest('hex').slice(0, 20)}`;
}

/** The stream a detection is recorded on: one per detection, so recording it twice is refused by the store. */
export function detectionStreamId(detectionId: string): string {
  return `detection-${createHash('sha256').update(detectionId).digest('hex').slice(0, 32)}`;
}

/** The defaults with `overrides` laid over them, rule by rule; an unknown rule or parameter, or a bad value, is refused. */
export function sentinelParameters(overrides: Readonly<Record<string, unknown>>): SentinelParameters {
  const merged: Record<string, unknown> = { ...DEFAULT_PARAMETERS };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(overrides)) {
    const base = (DEFAULT_PARAMETERS as unknown as Record<string, unknown>)[key];
    if (base === undefined) {
      problems.push(`unknown parameter group ${key}`);
      continue;
    }
    if (typeof base === 'number') {
      merged[key] = value;
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${key} must be an object`);
      continue;
    }
    for (const k of Object.keys(value)) if (!(k in (base as object))) problems.push(`unknown parameter ${key}.${k}`);
    merged[key] = { ...(base as object), ...value };
  }
  const p = merged as unknown as SentinelParameters;
  problems.push(...validateParameters(p));
  if (problems.length > 0) throw new Error(`SENTINEL_RULES: ${problems.join('; ')}`);
  return p;
}
