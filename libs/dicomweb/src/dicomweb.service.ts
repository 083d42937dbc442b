import type { Readable } from 'node:stream';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { AccessDecisions, AccessDeniedError, AccessRecorder, type DicomAccess, UnknownResourceError } from '@custos/access';
import type { Principal } from '@custos/authz';
import { CustosError, ForbiddenError, NotFoundError, UnavailableError, ValidationError } from '@custos/errors';
import type { CommandContext } from '@custos/event-store';
import { BindStudyCommand, ImageDirectory, type ImageOwner, RegisterDicomInstanceCommand } from '@custos/imaging';
import { LOGGER } from '@custos/kernel';
import type { Logger } from 'pino';
import type { Purpose } from '@custos/vocabulary';
import { ArchiveTimeoutError, DicomArchive, archiveUnavailable } from './archive.js';
import { type DicomJson, TAG, textOf } from './dicom-json.js';
import { assertUid, patientIdOf, type PurposeSource } from './identity.js';
import { mediaTypeOf, type Part, ReplaceTransform, splitParts, stowBoundary, tally } from './multipart.js';
import { type DicomRegistration, registrationOf } from './registration.js';
import { DeidentificationFailure, Deidentifier } from './deidentifier.js';
import { readPart10Header } from './part10.js';
import type { RetrieveTarget } from './target.js';

export type { RetrieveTarget } from './target.js';

export const DICOMWEB_CONFIG = Symbol('DICOMWEB_CONFIG');

/** The DICOMweb routes without an archive configured: 503 no-archive. */
export class NoArchiveError extends UnavailableError {
  constructor() {
    super('no image archive is configured (DICOMWEB_UPSTREAM)', 'no-archive');
  }
}

export interface Purposeful {
  readonly purpose: Purpose;
  readonly source: PurposeSource;
}


/** An answer streaming from the archive to the client; `ended` records what went out. */
export interface StreamingAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Readable;
  ended(outcome: 'complete' | 'aborted'): Promise<void>;
}

const FRAMES = /^[1-9][0-9]{0,5}(,[1-9][0-9]{0,5}){0,99}$/;
/** Query keys (PS3.18 8.3.4): an attribute keyword or tag, or a sequence path of them; a few reserved ones. */
const QUERY_KEY = /^([0-9A-Fa-f]{8}|[A-Za-z][A-Za-z0-9]{0,63})(\.([0-9A-Fa-f]{8}|[A-Za-z][A-Za-z0-9]{0,63})){0,3}$/;
const RESERVED_KEYS = new Set(['limit', 'offset', 'fuzzymatching', 'includefield']);
const MAX_QUERY_KEYS = 64;
const MAX_RESULTS = 1000;
const FEED_ACTOR = { id: 'custos-dicomweb', roles: ['system'] };

/**
 * Custos in the data path of a DICOMweb archive. Every read is decided (the same decider,
 * consent and policy as POST /v1/access-requests) and recorded before the first byte of the
 * answer; a search returns only the studies whose patient's consent and the policy permit the
 * purpose; reads for de-identifying purposes are de-identified on the way out; stores register
 * each instance (its study bound to its patient) once the archive holds it.
 */
@Injectable()
export class DicomwebGateway {
  constructor(
    @Optional() @Inject(DicomArchive) private readonly archive: DicomArchive | null,
    @Inject(AccessDecisions) private readonly decisions: AccessDecisions,
    @Inject(AccessRecorder) private readonly recorder: AccessRecorder,
    @Inject(ImageDirectory) private readonly images: ImageDirectory,
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Optional() @Inject(Deidentifier) private readonly deidentifier: Deidentifier | null,
  ) {}

  /** 503 no-archive before anything else is looked at, when no archive is configured. */
  requireArchive(): void {
    void this.upstream;
  }

  get maxStowBytes(): number {
    return this.archive?.config.maxStowBytes ?? 0;
  }

  private get upstream(): DicomArchive {
    if (!this.archive) throw new NoArchiveError();
    return this.archive;
  }

  private deidentifies(purpose: Purpose): boolean {
    return this.upstream.config.deidentifyPurposes.includes(purpose);
  }

  // ---------------------------------------------------------------- QIDO-RS

  async search(
    level: 'studies' | 'series' | 'instances',
    scope: { studyUid?: string; seriesUid?: string },
    query: Readonly<Record<string, unknown>>,
    purpose: Purposeful,
    principal: Principal,
    context: CommandContext,
    baseUrl: string,
  ): Promise<DicomJson[]> {
    const archive = this.upstream;
    if (scope.studyUid !== undefined) assertUid('StudyInstanceUID', scope.studyUid);
    if (scope.seriesUid !== undefined) assertUid('SeriesInstanceUID', scope.seriesUid);
    const deidentifiedSearch = this.deidentifies(purpose.purpose);
    const params = searchParams(query, deidentifiedSearch ? DEIDENTIFIED_QUERY_KEYS : undefined);
    const path = `${scope.studyUid ? `/studies/${scope.studyUid}` : ''}${scope.seriesUid ? `/series/${scope.seriesUid}` : ''}/${level}?${params.toString()}`;
    const answer = await archive.dicomweb(path, { accept: 'application/dicom+json' });
    if (answer.status === 204) answer.body.resume();
    else if (answer.status >= 400) {
      answer.body.resume();
      if (answer.status === 400) throw new ValidationError('the archive refused the query', { field: 'query' }, 'bad-query');
      throw archiveUnavailable(`the image archive answered ${answer.status}`);
    }
    const results = answer.status === 204 ? [] : await archive.dicomJson(answer);
    const deidentified = this.deidentifies(purpose.purpose);

    // One decision per study shown: the patient's consent for the purpose, recorded in their trail.
    const byStudy = new Map<string, DicomJson[]>();
    let withheld = 0;
    for (const item of results) {
      const studyUid = textOf(item, TAG.StudyInstanceUID) ?? scope.studyUid;
      if (!studyUid) {
        withheld += 1;
        continue;
      }
      const list = byStudy.get(studyUid) ?? [];
      list.push(item);
      byStudy.set(studyUid, list);
    }
    const shown: DicomJson[] = [];
    const patients = new Set<string>();
    await Promise.all(
      [...byStudy].map(async ([studyUid, items]) => {
        const first = items[0] as DicomJson;
        const owner = await this.ownerFromHeader(studyUid, first);
        if (!owner) {
          withheld += items.length;
          return;
        }
        const dicom: DicomAccess = { level: 'search', studyUid, ...(scope.seriesUid ? { seriesUid: scope.seriesUid } : {}), purposeSource: purpose.source, deidentified };
        try {
          await this.decisions.decide({ resourceType: 'image', resourceId: studyUid, action: 'view', purpose: purpose.purpose }, principal, context, { resource: owner, dicom });
        } catch (e) {
          if (e instanceof AccessDeniedError || e instanceof UnknownResourceError) {
            withheld += items.length;
            return;
          }
          throw e;
        }
        patients.add(owner.patientId);
        for (const item of items) {
          // Each item must be of the patient the decision was for: an instance of another patient (or another issuer)
          // filed under this study is withheld, not shown on this patient's decision.
          const own = patientIdOf(item, archive.config.localIssuer);
          if (!('patientId' in own) || own.patientId !== owner.patientId) {
            withheld += 1;
            continue;
          }
          shown.push(deidentified ? rewriteRetrieveUrls(await this.deid().qido(item, owner, archive.config.defaultDataset), archive.config.upstream, baseUrl) : rewriteRetrieveUrls(item, archive.config.upstream, baseUrl));
        }
      }),
    );
    await this.recorder.dicomSearch(context, {
      level,
      studyUid: scope.studyUid ?? null,
      seriesUid: scope.seriesUid ?? null,
      keys: [...new Set([...params.keys()].filter((k) => k !== 'includefield' || query.includefield !== undefined))].sort(),
      purpose: purpose.purpose,
      purposeSource: purpose.source,
      returned: shown.length,
      withheld,
      patients: patients.size,
      deidentified,
    });
    // The archive's order, whatever order the decisions finished in.
    const order = new Map(results.map((r, i) => [r, i]));
    return shown.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  }

  /** Whose a study found by a search is: Custos's own binding when it has one, else the archive's PatientID. */
  private async ownerFromHeader(studyUid: string, item: DicomJson): Promise<{ patientId: string; datasetId?: string } | null> {
    const bound = await this.images.study(studyUid);
    if (bound) return bound;
    const patient = patientIdOf(item, this.upstream.config.localIssuer);
    return 'refused' in patient ? null : { patientId: patient.patientId };
  }

  // ---------------------------------------------------------------- WADO-RS

  async retrieve(target: RetrieveTarget, accept: string | undefined, purpose: Purposeful, principal: Principal, context: CommandContext, baseUrl = ''): Promise<StreamingAnswer> {
    const archive = this.upstream;
    assertUid('StudyInstanceUID', target.studyUid);
    if (target.seriesUid !== undefined) assertUid('SeriesInstanceUID', target.seriesUid);
    if (target.instanceUid !== undefined) assertUid('SOPInstanceUID', target.instanceUid);
    if (target.frames !== undefined && !FRAMES.test(target.frames)) throw new ValidationError('frames must be a comma-separated list of 1-100 frame numbers', { field: 'frames' }, 'bad-frames');
    if (accept !== undefined && accept.length > 1000) throw new ValidationError('the Accept header is too long', { field: 'accept' }, 'bad-accept');
    let owner: ImageOwner | null;
    try {
      owner = await this.studyOwner(target.studyUid);
    } catch (e) {
      // The archive failed while Custos looked for a study it has not registered: no patient to decide for, nothing
      // released; the attempt is recorded as a refused route, with the rule naming the cause.
      if (e instanceof CustosError && (e.code === 'archive-unavailable' || e.code === 'archive-timeout')) {
        await this.recorder.routeDenied(context, { method: 'GET', route: `/dicom-web/studies/{study} (${target.level})`, action: 'read', subject: 'DicomStudy', patientId: null, rule: e.code });
      }
      throw e;
    }
    const deidentified = this.deidentifies(purpose.purpose) && target.level !== 'frames' && target.level !== 'rendered';
    // De-identified answers are made here, in one media type each: an Accept that rules it out is 406, before anything.
    if (deidentified && accept !== undefined && !acceptsDeidentified(accept, target.level === 'metadata')) throw new NotAcceptableError();
    const dicom: DicomAccess = {
      level: target.level,
      studyUid: target.studyUid,
      ...(target.seriesUid ? { seriesUid: target.seriesUid } : {}),
      ...(target.instanceUid ? { instanceUid: target.instanceUid } : {}),
      purposeSource: purpose.source,
      deidentified,
    };
    const action = target.level === 'study' || target.level === 'series' || target.level === 'instance' ? 'download' : 'view';
    const resourceId = target.instanceUid ?? target.seriesUid ?? target.studyUid;
    let result;
    try {
      ({ result } = await this.decisions.decide({ resourceType: 'image', resourceId, action, purpose: purpose.purpose }, principal, context, { resource: owner, dicom }));
    } catch (e) {
      // Recorded with the patient; the answer names neither the patient nor their consent (a caller who may not
      // see the study must not learn whose it is, nor what that patient chose).
      if (e instanceof AccessDeniedError) throw new ForbiddenError('access to this study is refused for this purpose (the refusal is recorded)', undefined, 'access-denied');
      throw e;
    }
    const patientId = result.patientId as string; // a PERMIT names its patient
    const record = (outcome: 'complete' | 'aborted' | 'archive-failed', instances: number, bytes: number, archiveStatus: number) =>
      this.recorder.dicomTransfer(context, { accessEventId: result.eventId, patientId, outcome, instances, bytes, archiveStatus }).catch((e: unknown) => {
        this.logger.error({ err: { message: (e as Error).message }, accessEventId: result.eventId }, 'a DICOMweb transfer could not be recorded');
      });

    // The archive must hold the study under the patient Custos bound it to: a study of the same UID stored for
    // another patient (a modality's mistake, or an insider's trick) is not released under this decision.
    const agrees = await this.archiveAgrees(target, patientId).catch(async (e: unknown) => {
      await record('archive-failed', 0, 0, 0);
      throw e;
    });
    if (!agrees) {
      await record('archive-failed', 0, 0, 409);
      throw new CustosConflict(`the archive holds study ${target.studyUid} under another patient than Custos bound it to`, 'study-patient-mismatch');
    }

    if (deidentified) {
      try {
        const out = await this.deid().retrieve(archive, target, { patientId, datasetId: owner?.datasetId ?? archive.config.defaultDataset });
        return { ...out, ended: async (outcome) => void (await record(outcome, out.counter.parts, out.counter.bytes, 200)) };
      } catch (e) {
        await record('archive-failed', 0, 0, e instanceof DeidentificationFailure ? e.status : 0);
        throw e instanceof DeidentificationFailure ? e.error : e;
      }
    }

    let answer;
    try {
      answer = await archive.dicomweb(wadoPath(target), { ...(accept ? { accept } : {}) });
    } catch (e) {
      await record('archive-failed', 0, 0, 0);
      throw e;
    }
    if (answer.status >= 300) {
      answer.body.resume();
      await record('archive-failed', 0, 0, answer.status);
      // The path was checked here: what the archive refuses as a bad request is the Accept header it cannot answer.
      throw answer.status === 400 ? new NotAcceptableError() : archiveError(answer.status);
    }
    const contentType = answer.contentType ?? 'application/octet-stream';
    // Frames' part headers (Content-Location) and metadata (BulkDataURI) name the archive: they name Custos instead.
    const body = target.level === 'frames' || target.level === 'metadata' ? answer.body.pipe(new ReplaceTransform(Buffer.from(archive.config.upstream), Buffer.from(`${baseUrl}/dicom-web`))) : answer.body;
    // Counted as it goes out, without a stream of its own in the path: the archive's stream goes to the client as it is.
    const counter = tally(body, mediaTypeOf(contentType)?.params.boundary);
    return {
      status: answer.status,
      contentType,
      body,
      ended: async (outcome) => {
        if (outcome === 'aborted') answer.body.destroy();
        await record(outcome, counter.parts, counter.bytes, answer.status);
      },
    };
  }

  /**
   * Whether every instance the retrieve covers is registered in Custos for this patient: the archive lists the
   * instances in scope (their UIDs only, from its index), and each must be one Custos registered, from its own
   * header, for the decided patient. An instance of another patient or of another issuer filed under the same
   * study (which Custos refuses to register) must not ride on this decision. Instances not registered yet (the
   * feed lags by a poll) are registered from the archive first.
   */
  private async archiveAgrees(target: RetrieveTarget, patientId: string): Promise<boolean> {
    const archive = this.upstream;
    const scope = `/studies/${target.studyUid}${target.seriesUid ? `/series/${target.seriesUid}` : ''}`;
    const only = target.instanceUid ? `&${TAG.SOPInstanceUID}=${target.instanceUid}` : '';
    const answer = await archive.dicomweb(`${scope}/instances?limit=100000${only}`, { accept: 'application/dicom+json' });
    if (answer.status === 204 || answer.status === 404) {
      answer.body.resume();
      return true; // nothing there: the retrieve answers 404 from the archive
    }
    if (answer.status >= 300) {
      answer.body.resume();
      throw archiveError(answer.status);
    }
    const uids = (await archive.dicomJson(answer)).map((item) => textOf(item, TAG.SOPInstanceUID));
    if (uids.some((u) => !u)) return false;
    let owners = await Promise.all(uids.map((u) => this.images.owner(u as string)));
    if (owners.some((o) => o === null)) {
      await this.registerStudyFromArchive(target.studyUid);
      owners = await Promise.all(uids.map((u) => this.images.owner(u as string)));
    }
    return owners.every((o) => o !== null && o.patientId === patientId);
  }

  private deid(): Deidentifier {
    if (!this.deidentifier) throw new UnavailableError('de-identification needs the archive\'s REST API (ORTHANC_URL)', 'deidentification-unavailable');
    return this.deidentifier;
  }

  /**
   * Whose a study is, from Custos's own binding (no projection lag). A study the archive holds
   * but Custos has not registered yet (its feed lags by a poll) is registered from the archive's
   * metadata first; a study the archive does not hold either is unknown (the decision says so: 404).
   */
  async studyOwner(studyUid: string): Promise<ImageOwner | null> {
    const bound = await this.images.study(studyUid);
    if (bound) return bound;
    await this.registerStudyFromArchive(studyUid);
    return this.images.study(studyUid);
  }

  async registerStudyFromArchive(studyUid: string): Promise<number> {
    const archive = this.upstream;
    const answer = await archive.dicomweb(`/studies/${studyUid}/metadata`, { accept: 'application/dicom+json' });
    if (answer.status === 404 || answer.status === 204) {
      answer.body.resume();
      return 0;
    }
    if (answer.status >= 300) {
      answer.body.resume();
      throw archiveError(answer.status);
    }
    let registered = 0;
    for (const item of await archive.dicomJson(answer)) {
      if (await this.register(item, archive.config.defaultDataset, 'archive-feed')) registered += 1;
    }
    return registered;
  }

  /** Register one instance from its header; false when it cannot be governed (logged, never released) or was registered before. */
  async register(item: DicomJson, datasetId: string, source: 'stow' | 'archive-feed'): Promise<boolean> {
    const registration = registrationOf(item, { datasetId, source, localIssuer: this.upstream.config.localIssuer });
    if ('refused' in registration) {
      this.logger.warn({ reason: registration.refused }, 'a DICOM instance in the archive cannot be registered; Custos will not release it');
      return false;
    }
    try {
      const r: { registered: boolean } = await this.commands.execute(new RegisterDicomInstanceCommand(registration, { actor: FEED_ACTOR, correlationId: `dicom-${registration.imageId}`.slice(0, 100) }));
      return r.registered;
    } catch (e) {
      // A study Custos bound to another patient: this instance is not registered, and retrieves of the study are
      // refused while the archive holds it under two patients (archiveAgrees). The feed goes on.
      if (e instanceof CustosError && e.code === 'study-patient-mismatch') {
        this.logger.warn({ reason: 'study-patient-mismatch' }, 'a DICOM instance in the archive names a study Custos bound to another patient; not registered');
        return false;
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------- STOW-RS

  /**
   * Store instances: every part must be a DICOM Part-10 file whose header Custos can govern
   * (UIDs, a patient id of this domain, a study not bound to another patient), else nothing is
   * stored. Then the archive stores them, and each stored instance is registered.
   */
  async store(body: Buffer, contentType: string | undefined, scope: { studyUid?: string }, datasetId: string | undefined, context: CommandContext, baseUrl: string): Promise<{ status: number; answer: DicomJson }> {
    const archive = this.upstream;
    if (scope.studyUid !== undefined) assertUid('StudyInstanceUID', scope.studyUid);
    if (datasetId !== undefined && !/^[A-Za-z0-9._-]{1,100}$/.test(datasetId)) throw new ValidationError('dataset must be 1-100 letters, digits or ._-', { field: 'dataset' }, 'bad-dataset');
    const dataset = datasetId ?? archive.config.defaultDataset;
    const boundary = stowBoundary(contentType);
    const parts = splitParts(body, boundary, 10_000);
    if (parts.length === 0) throw new ValidationError('the STOW-RS body holds no instance', { field: 'body' }, 'bad-multipart');
    const registrations = parts.map((part, index) => this.checkPart(part, index, dataset, scope.studyUid));
    const seen = new Set<string>();
    const byStudy = new Map<string, string>();
    for (const r of registrations) {
      if (seen.has(r.imageId)) throw new ValidationError(`instance ${r.imageId} is given twice`, { field: 'body' }, 'duplicate-instance');
      seen.add(r.imageId);
      const other = byStudy.get(r.dicom.studyUid);
      if (other !== undefined && other !== r.patientId) throw new CustosConflict(`study ${r.dicom.studyUid} is given for two patients`, 'study-patient-mismatch');
      byStudy.set(r.dicom.studyUid, r.patientId);
      // One SOP Instance UID names one image: the same UID for another patient would make the trail and the archive disagree.
      const known = await this.images.owner(r.imageId);
      if (known && known.patientId !== r.patientId) throw new CustosConflict(`instance ${r.imageId} is registered for another patient`, 'duplicate-instance');
    }
    // Each study is bound to its patient before the archive holds anything of it: of two stores of one study for two
    // patients at once, one binds it and the other is refused here (409), with nothing stored.
    for (const [studyUid, patientId] of byStudy) {
      await this.commands.execute(new BindStudyCommand({ studyUid, patientId, datasetId: dataset }, context));
    }

    const answer = await archive.dicomweb(scope.studyUid ? `/studies/${scope.studyUid}` : '/studies', { method: 'POST', body, contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' });
    if (answer.status >= 500 || answer.status === 401 || answer.status === 403) {
      answer.body.resume();
      throw archiveUnavailable(`the image archive answered ${answer.status} to the store`);
    }
    const archived = await archive.json(answer).catch(() => null);
    const response = (archived && typeof archived === 'object' && !Array.isArray(archived) ? archived : {}) as DicomJson;
    const reported = new Set((response[TAG.ReferencedSOPSequence]?.Value ?? []).map((i) => textOf(i as DicomJson, TAG.ReferencedSOPInstanceUID)).filter((u): u is string => !!u));
    // What the archive says it holds, read back: a part the archive read differently (another PatientID, another
    // issuer: two parsers disagreeing on a crafted header) is not registered, and is reported as failed.
    const held = answer.status < 300 && reported.size > 0 ? await this.archivePatients(byStudy.keys()) : new Map<string, string | null>();
    const failed: Array<{ uid: string; reason: string }> = [];
    const stored: DicomRegistration[] = [];
    for (const r of registrations) {
      if (!reported.has(r.imageId)) failed.push({ uid: r.imageId, reason: 'not stored by the archive' });
      else if (held.get(r.imageId) !== r.patientId) failed.push({ uid: r.imageId, reason: 'the archive reads another patient in this instance' });
      else stored.push(r);
    }
    await Promise.all(stored.map((r) => this.commands.execute(new RegisterDicomInstanceCommand(r, context))));
    const base = `${baseUrl}/dicom-web`;
    const out: DicomJson = {};
    const studies = [...byStudy.keys()];
    if (studies.length === 1) out[TAG.RetrieveURL] = { vr: 'UR', Value: [`${base}/studies/${studies[0]}`] };
    out[TAG.ReferencedSOPSequence] = {
      vr: 'SQ',
      Value: stored.map((r) => ({
        ...(r.dicom.sopClassUid ? { [TAG.ReferencedSOPClassUID]: { vr: 'UI', Value: [r.dicom.sopClassUid] } } : {}),
        [TAG.ReferencedSOPInstanceUID]: { vr: 'UI', Value: [r.imageId] },
        [TAG.RetrieveURL]: { vr: 'UR', Value: [`${base}/studies/${r.dicom.studyUid}/series/${r.dicom.seriesUid}/instances/${r.imageId}`] },
      })),
    };
    // PS3.18 10.5.3: 200 all stored, 202 some failed, 409 none stored; 0xC000 "cannot understand" as the failure reason.
    if (failed.length > 0) out[TAG.FailedSOPSequence] = { vr: 'SQ', Value: failed.map((f) => ({ [TAG.ReferencedSOPInstanceUID]: { vr: 'UI', Value: [f.uid] }, [TAG.FailureReason]: { vr: 'US', Value: [0xc000] } })) };
    const status = failed.length === 0 ? 200 : stored.length > 0 ? 202 : 409;
    return { status, answer: out };
  }

  /** The PatientID the archive files each instance of these studies under. */
  private async archivePatients(studyUids: Iterable<string>): Promise<Map<string, string | null>> {
    const archive = this.upstream;
    const out = new Map<string, string | null>();
    for (const studyUid of studyUids) {
      const answer = await archive.dicomweb(`/studies/${studyUid}/instances?includefield=${TAG.PatientID}&limit=100000`, { accept: 'application/dicom+json' });
      if (answer.status >= 300 || answer.status === 204) {
        answer.body.resume();
        continue;
      }
      for (const item of await archive.dicomJson(answer)) {
        const uid = textOf(item, TAG.SOPInstanceUID);
        // The PatientID the archive indexed the instance under (its parser's reading of the header).
        if (uid) out.set(uid, textOf(item, TAG.PatientID) ?? null);
      }
    }
    return out;
  }

  private checkPart(part: Part, index: number, datasetId: string, studyUid: string | undefined): DicomRegistration {
    const media = mediaTypeOf(part.contentType);
    if (media && media.type !== 'application/dicom') throw new ValidationError(`part ${index + 1} is ${media.type}, not application/dicom`, { field: `part[${index}]` }, 'not-dicom');
    const header = readPart10Header(part.body);
    if (!header) throw new ValidationError(`part ${index + 1} is not a DICOM Part-10 file`, { field: `part[${index}]` }, 'not-dicom');
    const registration = registrationOf(header, { datasetId, source: 'stow', localIssuer: this.upstream.config.localIssuer });
    if ('refused' in registration) {
      const why = { 'no-patient-id': 'has no PatientID', 'patient-id-unusable': 'has a PatientID Custos cannot use as a patient id (letters, digits and ._- only)', 'foreign-issuer': 'has a PatientID of another issuer (IssuerOfPatientID)', 'bad-uids': 'lacks a valid SOP Instance, Study or Series UID' }[registration.refused];
      throw new ValidationError(`part ${index + 1} ${why}`, { field: `part[${index}]` }, registration.refused);
    }
    if (studyUid !== undefined && registration.dicom.studyUid !== studyUid) throw new CustosConflict(`part ${index + 1} belongs to another study than the one in the path`, 'wrong-study');
    return registration;
  }
}

class CustosConflict extends CustosError {
  readonly status = 409;
  readonly title = 'Conflict';
  constructor(message: string, code: string) {
    super(code, message);
  }
}

export function archiveError(status: number): CustosError {
  if (status === 404) return new NotFoundError('the archive does not hold it', undefined, 'not-in-archive');
  if (status === 406) return new NotAcceptableError();
  if (status === 504) return new ArchiveTimeoutError();
  return archiveUnavailable(`the image archive answered ${status}`);
}

export class NotAcceptableError extends CustosError {
  readonly status = 406;
  readonly title = 'Not Acceptable';
  constructor() {
    super('not-acceptable', 'the archive cannot answer in the media type the Accept header asks for');
  }
}

/** Whether an Accept header takes what a de-identified answer is (Part-10 instances in multipart/related, or DICOM JSON). */
export function acceptsDeidentified(accept: string, metadata: boolean): boolean {
  return accept.split(',').some((range) => {
    const media = mediaTypeOf(range);
    if (!media) return false;
    if (media.type === '*/*') return true;
    if (metadata) return media.type === 'application/dicom+json' || media.type === 'application/json' || media.type === 'application/*';
    if (media.type === 'multipart/related') return media.params.type === undefined || media.params.type.toLowerCase() === 'application/dicom';
    return media.type === 'application/dicom' || media.type === 'application/*';
  });
}

export function wadoPath(t: RetrieveTarget): string {
  let path = `/studies/${t.studyUid}`;
  if (t.seriesUid) path += `/series/${t.seriesUid}`;
  if (t.instanceUid) path += `/instances/${t.instanceUid}`;
  if (t.level === 'metadata') path += '/metadata';
  if (t.level === 'frames') path += `/frames/${t.frames}`;
  if (t.level === 'rendered') path += '/rendered';
  return path;
}

/** The query as the archive gets it: validated keys only, and the patient's attributes the decision needs. */
/**
 * What a search for a de-identifying purpose may match on: what its answer shows (de-identified), never a name,
 * an MRN, a birth date or an accession number (matching on them would tie a pseudonym to a person).
 */
export const DEIDENTIFIED_QUERY_KEYS: ReadonlySet<string> = new Set([
  'limit', 'offset', 'fuzzymatching', 'includefield',
  'StudyInstanceUID', '0020000D', 'SeriesInstanceUID', '0020000E', 'SOPInstanceUID', '00080018', 'SOPClassUID', '00080016',
  'Modality', '00080060', 'ModalitiesInStudy', '00080061', 'BodyPartExamined', '00180015',
  'PatientSex', '00100040', 'PatientAge', '00101010', 'EthnicGroup', '00102160',
]);

export function searchParams(query: Readonly<Record<string, unknown>>, allowed?: ReadonlySet<string>): URLSearchParams {
  const out = new URLSearchParams();
  const keys = Object.keys(query).filter((k) => k !== 'purpose');
  let count = 0;
  for (const key of keys) {
    const raw = query[key];
    const values = Array.isArray(raw) ? raw : [raw];
    count += values.length;
    if (count > MAX_QUERY_KEYS) throw new ValidationError(`a search takes at most ${MAX_QUERY_KEYS} query keys`, { field: 'query' }, 'too-many-keys');
    if (!RESERVED_KEYS.has(key) && !QUERY_KEY.test(key)) throw new ValidationError(`${key.slice(0, 80)} is not a DICOM attribute keyword or tag`, { field: 'query' }, 'bad-query-key');
    if (allowed && !allowed.has(key)) throw new ValidationError(`a search for a de-identifying purpose cannot match on ${key}`, { field: key }, 'query-key-not-allowed');
    for (const value of values) {
      if (typeof value !== 'string' || value.length > 1024) throw new ValidationError(`the value of ${key} must be text of at most 1024 characters`, { field: key }, 'bad-query-value');
      if ((key === 'limit' || key === 'offset') && !/^\d{1,7}$/.test(value)) throw new ValidationError(`${key} must be a non-negative integer`, { field: key }, 'bad-query-value');
      if (key === 'limit' && Number(value) > MAX_RESULTS) throw new ValidationError(`limit must be at most ${MAX_RESULTS}`, { field: key }, 'bad-query-value');
      out.append(key, value);
    }
  }
  if (!out.has('limit')) out.set('limit', String(MAX_RESULTS));
  out.append('includefield', TAG.PatientID);
  out.append('includefield', TAG.IssuerOfPatientID);
  out.append('includefield', TAG.StudyInstanceUID);
  return out;
}

/** The archive's RetrieveURLs point at the archive: they are rewritten to Custos, which is the only way in. */
export function rewriteRetrieveUrls(item: DicomJson, upstream: string, baseUrl: string): DicomJson {
  const url = item[TAG.RetrieveURL];
  if (!url?.Value) return item;
  // Whatever host the archive named (its own, or one a Host header made up), the path from /studies/ on is kept, on Custos's base.
  const rewrite = (v: unknown) => {
    if (typeof v !== 'string') return v;
    const at = v.startsWith(upstream) ? upstream.length : v.indexOf('/studies/');
    return at < 0 ? `${baseUrl}/dicom-web` : `${baseUrl}/dicom-web${v.slice(at)}`;
  };
  return { ...item, [TAG.RetrieveURL]: { ...url, Value: url.Value.map(rewrite) } };
}

