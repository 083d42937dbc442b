import type { EvidenceRef, Severity } from './incident.events.js';
import { DEFAULT_PARAMETERS, type Detection, type Observation, RULE_VERSIONS, type RuleId, SentinelEngine, type SentinelParameters, validateParameters } from './rules.js';

/*
 * The rules before their windows became aggregates, kept as the reference: every access kept
 * in a list of the actor's last 24 hours, and each rule filtering that list. Random streams
 * through it and through SentinelEngine must raise the same detections, field for field.
 */
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
  recent: AccessSeen[];
  hourly: Map<number, number>;
  emergencies: Array<{ ref: EvidenceRef; at: number }>;
  exports: Map<number, Set<string>>;
  confirmedIncident: boolean;
}

const bucketHour = (at: number) => Math.floor(at / HOUR);
const bucketDay = (at: number) => Math.floor(at / DAY);
const iso = (at: number) => new Date(at).toISOString();

class ReferenceEngine {
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
      case 'audit-read':
        return [];
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


function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Thresholds low enough that every rule fires often in a short stream. */
const TIGHT: SentinelParameters = {
  volumeSpike: { sigmas: 1, floor: 6, baselineDays: 14, warmUpDays: 3 },
  manyPatients: { perHour: 5, perDay: 12, exemptRoles: ['exempt'] },
  afterHours: { startHour: 22, endHour: 6, weekends: true, baselineDays: 7, warmUpDays: 2 },
  vipAccess: { actorsPerDay: 3, explainingPurposes: ['TREATMENT'] },
  relationship: { rareNameAtMost: 2 },
  deniedBurst: { denials: 4, patients: 3, windowMinutes: 10 },
  btgOveruse: { perWeek: 2, reviewHours: 3 },
  bulkExport: { perExport: 4, perDay: 9 },
  dormantAccount: { idleDays: 2 },
  oversightReads: DEFAULT_PARAMETERS.oversightReads,
  coolDownHours: 1,
  aggregateHours: 24,
};

/**
 * A random stream in global order: times never go back (the log's order), with ties, bursts
 * of milliseconds, minutes, hours and the odd multi-day gap; every kind of observation.
 */
function randomStream(seed: number, length: number, busy = false): Observation[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const actors = ['a0', 'a1', 'a2', 'a3'];
  // A busy stream's actor reads from a wide pool, so that daily windows outgrow the evidence cap.
  const patients = Array.from({ length: busy ? 400 : 30 }, (_, i) => `p${i}`);
  const out: Observation[] = [];
  const emergencies: string[] = [];
  let at = Date.parse('2026-11-02T00:00:00Z') + Math.floor(rnd() * DAY);
  let consent = 0;
  for (let i = 0; i < length; i++) {
    const g = rnd();
    // Gaps in whole seconds and minutes, so that events fall exactly on window edges too.
    at += g < 0.15 ? 0 : g < 0.5 ? 5_000 * Math.floor(rnd() * 4) : g < 0.85 ? 60_000 * Math.floor(rnd() * 11) : g < 0.98 ? 60_000 * Math.floor(rnd() * 360) : HOUR * Math.floor(rnd() * 96);
    const ref = { eventId: `e${i}`, sequence: i, hash: `h${i}` };
    const k = rnd();
    const actorId = busy && rnd() < 0.7 ? 'a0' : pick(actors);
    if (k < 0.72) {
      const emergency = rnd() < 0.06;
      if (emergency) emergencies.push(ref.eventId);
      out.push({
        kind: 'access',
        ref,
        at,
        actorId,
        roles: rnd() < 0.05 ? ['exempt'] : ['clinician'],
        patientId: rnd() < 0.05 ? null : pick(patients),
        decision: rnd() < 0.25 ? 'DENY' : 'PERMIT',
        emergency,
        consentVersion: Math.floor(rnd() * (consent + 1)),
        purpose: rnd() < 0.1 ? 'RESEARCH' : 'TREATMENT',
      });
    } else if (k < 0.76) out.push({ kind: 'consent', at, patientId: pick(patients), version: ++consent });
    else if (k < 0.8 && emergencies.length > 0) out.push({ kind: 'emergency-reviewed', at, accessEventId: pick(emergencies) });
    else if (k < 0.85) out.push({ kind: 'export', ref, at, actorId, patientIds: patients.filter(() => rnd() < 0.1) });
    else if (k < 0.9) out.push({ kind: 'patient-profile', at, patientId: pick(patients), vip: rnd() < 0.3, employee: rnd() < 0.2, familyNameIndex: `f${Math.floor(rnd() * 4)}`, addressIndex: `ad${Math.floor(rnd() * 6)}` });
    else if (k < 0.94) out.push({ kind: 'workforce', at, actorId, status: rnd() < 0.1 ? 'terminated' : 'active', since: at - Math.floor(rnd() * DAY), familyNameIndex: `f${Math.floor(rnd() * 4)}`, addressIndex: `ad${Math.floor(rnd() * 6)}`, patientId: rnd() < 0.3 ? pick(patients) : null });
    else if (k < 0.96) out.push({ kind: 'verdict', at, actorId, verdict: pick(['true-positive', 'false-positive', 'duplicate'] as const) });
    else {
      // A burst: one actor sweeping patients a few seconds apart (the busy case).
      for (let j = 0; j < 40 && i < length; j++, i++) {
        at += 1_000 * Math.floor(rnd() * 5);
        out.push({ kind: 'access', ref: { eventId: `e${i}`, sequence: i, hash: `h${i}` }, at, actorId, roles: ['clinician'], patientId: pick(patients), decision: rnd() < 0.3 ? 'DENY' : 'PERMIT', emergency: false, consentVersion: consent, purpose: 'TREATMENT' });
      }
    }
  }
  return out;
}

function both(parameters: SentinelParameters, stream: readonly Observation[]): { reference: Detection[]; engine: Detection[] } {
  const reference = new ReferenceEngine(parameters);
  const engine = new SentinelEngine(parameters);
  return { reference: stream.flatMap((o) => reference.observe(o)), engine: stream.flatMap((o) => engine.observe(o)) };
}

describe('the rules as incremental aggregates raise exactly what the filtered lists raised', () => {
  it('on 120 random streams with tight thresholds (every rule fires), detection for detection', () => {
    const fired = new Set<string>();
    for (let seed = 1; seed <= 120; seed++) {
      const { reference, engine } = both(TIGHT, randomStream(seed, 1_200, seed % 3 === 0));
      expect(engine).toEqual(reference);
      for (const d of reference) fired.add(`${d.rule}:${d.evidence.length === MAX_EVIDENCE ? 'capped' : 'whole'}`);
    }
    // The streams exercise every rule of the reference (not oversight-reads: it is new).
    for (const rule of ['volume-spike', 'many-patients', 'after-hours', 'vip-access', 'relationship', 'denied-burst', 'btg-overuse', 'post-withdrawal', 'bulk-export', 'dormant-account']) {
      expect([...fired].some((f) => f.startsWith(`${rule}:`))).toBe(true);
    }
  });

  it('with the default thresholds on long busy streams (evidence capped at 200, windows of thousands)', () => {
    let total = 0;
    let capped = 0;
    for (let seed = 1001; seed <= 1004; seed++) {
      const stream = randomStream(seed, 20_000, true);
      const { reference, engine } = both(DEFAULT_PARAMETERS, stream);
      expect(engine).toEqual(reference);
      total += reference.length;
      capped += reference.filter((d) => d.evidence.length === MAX_EVIDENCE).length;
    }
    expect(total).toBeGreaterThan(0);
    expect(capped).toBeGreaterThan(0);
  });
});
