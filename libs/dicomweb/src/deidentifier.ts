import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { CustosError, NotFoundError } from '@custos/errors';
import { KeyService } from '@custos/keys';
import type { DicomArchive } from './archive.js';
import { anonymizeInstance, deidentifyQidoResult, metadataOfPart10, PSEUDONYM_KEY_OWNER } from './deid/index.js';
import { type DicomJson, TAG, textOf } from './dicom-json.js';
import { TransferCounter } from './multipart.js';
import type { RetrieveTarget } from './target.js';

/** What a de-identified retrieve answers (a multipart of Part-10 files, or a DICOM JSON array). */
export interface DeidentifiedAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Readable;
  readonly counter: TransferCounter;
}

/** The archive refused or failed before anything was released. */
export class DeidentificationFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: CustosError,
  ) {
    super(error.message);
  }
}

/**
 * De-identification on the way out, for the purposes that ask for it (DICOMWEB_DEIDENTIFY_PURPOSES):
 * each instance goes through the archive's own implementation of the PS3.15 Basic Profile with
 * the Retain Patient Characteristics option (libs/dicomweb/src/deid), with pseudonyms under the
 * key service's `dicom-pseudonyms` key; searches keep a whitelist of attributes. The first
 * instance is de-identified before the answer starts, so an archive that fails releases nothing.
 */
@Injectable()
export class Deidentifier {
  constructor(@Inject(KeyService) private readonly keys: KeyService) {}

  private async key(): Promise<Uint8Array> {
    const { key } = await this.keys.dataKeyFor(PSEUDONYM_KEY_OWNER);
    return Buffer.from((key.toJSON(true) as { k: string }).k, 'base64url');
  }

  async qido(item: DicomJson, owner: { patientId: string; datasetId?: string }, defaultDataset: string): Promise<DicomJson> {
    return deidentifyQidoResult(item, { patientId: owner.patientId, datasetId: owner.datasetId ?? defaultDataset }, await this.key()) as DicomJson;
  }

  async retrieve(archive: DicomArchive, target: RetrieveTarget, owner: { patientId: string; datasetId: string }): Promise<DeidentifiedAnswer> {
    const key = await this.key();
    const orthanc = archive.orthanc();
    const instances = await this.instancesOf(archive, target);
    if (instances.length === 0) throw new DeidentificationFailure(404, new NotFoundError('the archive does not hold it', undefined, 'not-in-archive'));
    const anonymize = async (i: { seriesUid: string; sopInstanceUid: string }) => {
      const bytes = await anonymizeInstance(orthanc, { patientId: owner.patientId, datasetId: owner.datasetId, studyUid: target.studyUid, ...i }, key);
      if (!bytes) throw new DeidentificationFailure(404, new NotFoundError('the archive does not hold it', undefined, 'not-in-archive'));
      return bytes;
    };
    const first = await anonymize(instances[0] as { seriesUid: string; sopInstanceUid: string });
    if (target.level === 'metadata') {
      const items = [metadataOfPart10(first)];
      for (const i of instances.slice(1)) items.push(metadataOfPart10(await anonymize(i)));
      const counter = new TransferCounter(undefined);
      const body = Readable.from([Buffer.from(JSON.stringify(items))]).pipe(counter);
      return { status: 200, contentType: 'application/dicom+json', body, counter };
    }
    const boundary = `custos-${randomBytes(12).toString('hex')}`;
    const counter = new TransferCounter(boundary);
    async function* parts(): AsyncGenerator<Buffer> {
      for (let n = 0; n < instances.length; n += 1) {
        const bytes = n === 0 ? first : await anonymize(instances[n] as { seriesUid: string; sopInstanceUid: string });
        yield Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${bytes.length}\r\n\r\n`);
        yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        yield Buffer.from('\r\n');
      }
      yield Buffer.from(`--${boundary}--\r\n`);
    }
    const body = Readable.from(parts()).pipe(counter);
    return { status: 200, contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`, body, counter };
  }

  /** The instances a study, series or instance retrieve covers, in the archive's order. */
  private async instancesOf(archive: DicomArchive, target: RetrieveTarget): Promise<Array<{ seriesUid: string; sopInstanceUid: string }>> {
    // Asked of the archive within the study (and series) even for one instance: the archive then vouches that the
    // instance is of the study the decision was about, never of another patient's study named by its SOP Instance UID.
    const only = target.instanceUid ? `&${TAG.SOPInstanceUID}=${target.instanceUid}` : '';
    const path = `/studies/${target.studyUid}${target.seriesUid ? `/series/${target.seriesUid}` : ''}/instances?includefield=${TAG.SeriesInstanceUID}&limit=100000${only}`;
    const answer = await archive.dicomweb(path, { accept: 'application/dicom+json' });
    if (answer.status === 204 || answer.status === 404) {
      answer.body.resume();
      return [];
    }
    if (answer.status >= 300) {
      answer.body.resume();
      throw new DeidentificationFailure(answer.status, new NotFoundError('the archive does not hold it', undefined, 'not-in-archive'));
    }
    const out: Array<{ seriesUid: string; sopInstanceUid: string }> = [];
    for (const item of await archive.dicomJson(answer)) {
      const seriesUid = textOf(item, TAG.SeriesInstanceUID) ?? target.seriesUid;
      const sopInstanceUid = textOf(item, TAG.SOPInstanceUID);
      if (seriesUid && sopInstanceUid && (!target.instanceUid || sopInstanceUid === target.instanceUid)) out.push({ seriesUid, sopInstanceUid });
    }
    return out;
  }
}
