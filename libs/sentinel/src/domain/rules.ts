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
  'oversight-reads',
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
  'oversight-reads': 1,
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
  /** Reads of audit data (trails, disclosures) about this many distinct patients by one actor within the window. */
  readonly oversightReads: { readonly patients: number; readonly windowMinutes: number };
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
  oversightReads: { patients: 20, windowMinutes: 60 },
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
  positive('oversightReads.patients', p.oversightReads.patients);
  positive('oversightReads.windowMinutes', p.oversightReads.windowMinutes);
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
  /** A read of one patient's audit data (their trail, disclosures) other than a regulator's export. */
  | { readonly kind: 'audit-read'; readonly ref: EvidenceRef; readonly at: number; readonly actorId: string; readonly patientId: string; readonly route: string }
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

/** The newest refs a window holds, oldest first, for a detection's evidence (a detection keeps at most MAX_EVIDENCE). */
class RecentRefs {
  private items: Array<{ at: number; ref: EvidenceRef }> = [];

  add(at: number, ref: EvidenceRef): void {
    // Events arrive in global order; a late one (an earlier time than the newest) goes in its place.
    let i = this.items.length;
    while (i > 0 && (this.items[i - 1] as { at: number }).at > at) i--;
    if (i === this.items.length) this.items.push({ at, ref });
    else this.items.splice(i, 0, { at, ref });
    // Trimmed in steps of MAX_EVIDENCE: O(1) amortised, never more than twice that held.
    if (this.items.length >= 2 * MAX_EVIDENCE) this.items = this.items.slice(-MAX_EVIDENCE);
  }

  /** The newest refs with a time after `after`. */
  since(after: number): EvidenceRef[] {
    const out: EvidenceRef[] = [];
    for (const s of this.items.slice(-MAX_EVIDENCE)) if (s.at > after) out.push(s.ref);
    return out;
  }

  clear(): void {
    this.items = [];
  }
}

/**
 * One actor's events of the last `width` milliseconds kept as an aggregate: the count, a count
 * per key (distinct patients) and the newest refs. Entries are held in time order in flat
 * arrays; each is added once and expired once from the front, so an event costs O(1)
 * amortised whatever the actor's volume (no filter over the day, no `shift()`). The window
 * holds the entries with a time after `now - width`, `now` being the newest time seen.
 */
export class SlidingWindow {
  private times: number[] = [];
  private keys: Array<string | null> = [];
  private head = 0;
  private readonly counts = new Map<string, number>();
  private readonly refs = new RecentRefs();
  private newest = Number.NEGATIVE_INFINITY;

  constructor(readonly width: number) {}

  /** Entries in the window. */
  get size(): number {
    return this.times.length - this.head;
  }

  /** Distinct keys in the window. */
  get distinct(): number {
    return this.counts.size;
  }

  get distinctKeys(): string[] {
    return [...this.counts.keys()];
  }

  /** The newest refs in the window (at most MAX_EVIDENCE), oldest first. */
  get evidence(): EvidenceRef[] {
    return this.refs.since(this.newest - this.width);
  }

  add(at: number, key: string | null, ref: EvidenceRef): void {
    this.expire(at);
    if (at <= this.newest - this.width) return; // older than the window already is
    let i = this.times.length;
    while (i > this.head && (this.times[i - 1] as number) > at) i--;
    if (i === this.times.length) {
      this.times.push(at);
      this.keys.push(key);
    } else {
      this.times.splice(i, 0, at);
      this.keys.splice(i, 0, key);
    }
    if (key !== null) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.refs.add(at, ref);
  }

  /** Moves the window to `now` (never back): entries at or before `now - width` leave it. */
  expire(now: number): void {
    if (now <= this.newest) return;
    this.newest = now;
    const cutoff = now - this.width;
    while (this.head < this.times.length && (this.times[this.head] as number) <= cutoff) {
      const key = this.keys[this.head] as string | null;
      if (key !== null) {
        const n = (this.counts.get(key) as number) - 1;
        if (n === 0) this.counts.delete(key);
        else this.counts.set(key, n);
      }
      this.head++;
    }
    // Drop the expired front in one copy once it is half the arrays: O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.keys = this.keys.slice(this.head);
      this.head = 0;
    }
  }
}

/** One actor's permitted reads in the current UTC hour: the patients and the newest refs (volume-spike's evidence). */
class HourBucket {
  hour = Number.NEGATIVE_INFINITY;
  readonly patients = new Set<string>();
  readonly refs = new RecentRefs();

  add(at: number, patientId: string | null, ref: EvidenceRef): void {
    const hour = bucketHour(at);
    if (hour > this.hour) {
      this.hour = hour;
      this.patients.clear();
      this.refs.clear();
    }
    if (patientId) this.patients.add(patientId);
    this.refs.add(at, ref);
  }
}

/** A binary min-heap on time, for emergency accesses awaiting review. */
class ReviewHeap {
  private readonly items: Array<{ at: number; seq: number; id: string }> = [];

  get top(): { at: number; seq: number; id: string } | undefined {
    return this.items[0];
  }

  push(item: { at: number; seq: number; id: string }): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as { at: number }).at <= item.at) break;
      h[i] = h[parent] as typeof item;
      i = parent;
    }
    h[i] = item;
  }

  pop(): { at: number; seq: number; id: string } | undefined {
    const h = this.items;
    const first = h[0];
    const last = h.pop();
    if (first === undefined || last === undefined || h.length === 0) return first;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] as typeof last).at < (h[l] as typeof last).at ? r : l;
      if ((h[c] as typeof last).at >= last.at) break;
      h[i] = h[c] as typeof last;
      i = c;
    }
    h[i] = last;
    return first;
  }
}

interface ActorState {
  firstAt: number;
  lastAt: number;
  /** Denied accesses in deniedBurst's window. */
  denials: SlidingWindow;
  /** Permitted reads naming a patient, in the last hour and the last 24 hours. */
  permitsHour: SlidingWindow;
  permitsDay: SlidingWindow;
  /** Permitted reads of the current UTC hour. */
  currentHour: HourBucket;
  /** Permitted reads per UTC hour bucket (hour number since the epoch), for baselines. */
  hourly: Map<number, number>;
  /** The hour `hourly` was last pruned in. */
  prunedHour: number;
  /** Emergency accesses of the last 7 days. */
  emergencies: SlidingWindow;
  /** Patients whose audit data the actor read, in oversightReads' window. */
  oversight: SlidingWindow;
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
  private readonly pendingReviews = new Map<string, { actorId: string; ref: EvidenceRef; at: number; seq: number }>();
  /** The pending reviews by time, so an event looks only at those due (entries of reviewed accesses are skipped when they surface). */
  private readonly reviewsDue = new ReviewHeap();
  private reviewSeq = 0;
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
      case 'audit-read':
        return this.oversightRead(o);
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
      const p = this.parameters;
      a = {
        firstAt: at,
        lastAt: at,
        // The day bounds every window, as it did when the day's accesses were one list.
        denials: new SlidingWindow(Math.min(DAY, p.deniedBurst.windowMinutes * 60_000)),
        permitsHour: new SlidingWindow(HOUR),
        permitsDay: new SlidingWindow(DAY),
        currentHour: new HourBucket(),
        hourly: new Map(),
        prunedHour: bucketHour(at),
        emergencies: new SlidingWindow(7 * DAY),
        oversight: new SlidingWindow(p.oversightReads.windowMinutes * 60_000),
        exports: new Map(),
        confirmedIncident: false,
      };
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
    if (o.decision === 'DENY') {
      a.denials.add(o.at, o.patientId, o.ref);
    } else {
      if (o.patientId) {
        a.permitsHour.add(o.at, o.patientId, o.ref);
        a.permitsDay.add(o.at, o.patientId, o.ref);
      }
      a.currentHour.add(o.at, o.patientId, o.ref);
    }
    for (const w of [a.denials, a.permitsHour, a.permitsDay, a.emergencies]) w.expire(o.at);
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
        a.emergencies.add(o.at, null, o.ref);
        const seq = this.pendingReviews.get(o.ref.eventId)?.seq ?? this.reviewSeq++;
        this.pendingReviews.set(o.ref.eventId, { actorId: o.actorId, ref: o.ref, at: o.at, seq });
        this.reviewsDue.push({ at: o.at, seq, id: o.ref.eventId });
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
    const denied = a.denials;
    if (denied.size < p.denials && denied.distinct < p.patients) return [];
    if (!this.due(`denied-burst:${o.actorId}`, o.at)) return [];
    return [
      this.detection(
        'denied-burst',
        { kind: 'actor', id: o.actorId },
        { from, to: o.at },
        denied.distinct >= p.patients ? 'high' : 'medium',
        denied.distinctKeys,
        denied.evidence,
        { denials: denied.size, distinctPatients: denied.distinct },
        p,
        o.at,
      ),
    ];
  }

  private manyPatients(o: Extract<Observation, { kind: 'access' }>, a: ActorState): Detection[] {
    const p = this.parameters.manyPatients;
    if (o.roles.some((r) => p.exemptRoles.includes(r))) return [];
    const hour = a.permitsHour;
    const day = a.permitsDay;
    const out: Detection[] = [];
    if (hour.distinct >= p.perHour && this.due(`many-patients:${o.actorId}`, o.at)) {
      out.push(this.detection('many-patients', { kind: 'actor', id: o.actorId }, { from: o.at - HOUR, to: o.at }, 'high', hour.distinctKeys, hour.evidence, { distinctPatients: hour.distinct, window: '60 min' }, p, o.at));
    } else if (day.distinct >= p.perDay && this.due(`many-patients:${o.actorId}`, o.at)) {
      out.push(this.detection('many-patients', { kind: 'actor', id: o.actorId }, { from: o.at - DAY, to: o.at }, 'medium', day.distinctKeys, day.evidence, { distinctPatients: day.distinct, window: '24 h' }, p, o.at));
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
    const inHour = a.currentHour;
    return [
      this.detection(
        'volume-spike',
        { kind: 'actor', id: o.actorId },
        { from, to: o.at },
        'medium',
        [...inHour.patients],
        inHour.refs.since(Number.NEGATIVE_INFINITY),
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
    const week = a.emergencies;
    if (week.size <= p.perWeek || !this.due(`btg-overuse:${o.actorId}`, o.at)) return [];
    return [this.detection('btg-overuse', { kind: 'actor', id: o.actorId }, { from: o.at - 7 * DAY, to: o.at }, 'medium', o.patientId ? [o.patientId] : [], week.evidence, { emergencies: week.size, reason: 'frequency' }, p, o.at)];
  }

  /** Emergency accesses still unreviewed `reviewHours` after they happened, as of `now` (the newest event's time). */
  private overdueReviews(now: number): Detection[] {
    const p = this.parameters.btgOveruse;
    const cutoff = now - p.reviewHours * HOUR;
    // Only the reviews due surface; reviewed or superseded entries are dropped as they do.
    const due: Array<{ id: string; r: { actorId: string; ref: EvidenceRef; at: number; seq: number } }> = [];
    for (let top = this.reviewsDue.top; top !== undefined && top.at <= cutoff; top = this.reviewsDue.top) {
      this.reviewsDue.pop();
      const r = this.pendingReviews.get(top.id);
      if (r && r.seq === top.seq && r.at === top.at) due.push({ id: top.id, r });
    }
    // In the order the accesses were first seen, as the list of pending reviews has it.
    due.sort((x, y) => x.r.seq - y.r.seq);
    const out: Detection[] = [];
    for (const { id, r } of due) {
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

  /** Reads of patients' audit data: one actor reading many patients' trails in the window is flagged. */
  private oversightRead(o: Extract<Observation, { kind: 'audit-read' }>): Detection[] {
    const p = this.parameters.oversightReads;
    const a = this.actor(o.actorId, o.at);
    a.oversight.add(o.at, o.patientId, o.ref);
    a.lastAt = Math.max(a.lastAt, o.at);
    const read = a.oversight;
    if (read.distinct < p.patients || !this.due(`oversight-reads:${o.actorId}`, o.at)) return [];
    return [
      this.detection(
        'oversight-reads',
        { kind: 'actor', id: o.actorId },
        { from: o.at - p.windowMinutes * 60_000, to: o.at },
        'medium',
        read.distinctKeys,
        read.evidence,
        { distinctPatients: read.distinct, reads: read.size, window: `${p.windowMinutes} min` },
        p,
        o.at,
      ),
    ];
  }

  private prune(a: ActorState, now: number): void {
    // Once per hour: the baselines read at most baselineDays back, and the hours before that go.
    const hour = bucketHour(now);
    if (hour > a.prunedHour) {
      a.prunedHour = hour;
      const keepHours = Math.max(this.parameters.volumeSpike.baselineDays, this.parameters.afterHours.baselineDays) * 24 + 24;
      if (a.hourly.size > keepHours) for (const h of a.hourly.keys()) if (h < hour - keepHours) a.hourly.delete(h);
    }
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
