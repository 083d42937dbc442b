import { readFileSync, statSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { CustosError, UnavailableError } from '@custos/errors';
import type { DicomwebConfig } from '@custos/platform';
import { type DicomJson, isDicomJsonArray } from './dicom-json.js';

/** The archive did not answer in time (504): nothing was released. */
export class ArchiveTimeoutError extends CustosError {
  readonly status = 504;
  readonly title = 'Gateway Timeout';
  constructor(message = 'the image archive did not answer in time') {
    super('archive-timeout', message);
  }
}

/** The archive is unreachable or failing (503): nothing was released. */
export class ArchiveUnavailableError extends UnavailableError {
  constructor(message = 'the image archive is not reachable') {
    super(message, 'archive-unavailable');
  }
}

export function archiveUnavailable(message?: string): ArchiveUnavailableError {
  return new ArchiveUnavailableError(message);
}

/** An answer of the archive, its body not yet read (a retrieve streams it on to the client). */
export interface ArchiveAnswer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly contentLength: number | undefined;
  readonly body: Readable;
}

/**
 * The archive's HTTP side (Orthanc with its DICOMweb plugin): DICOMweb under `upstream`, its
 * own REST API under `orthancUrl`. Only Custos holds the credentials (read once from a file that
 * must not be readable by others). A connection refused is 503 archive-unavailable, no answer
 * within DICOMWEB_TIMEOUT_MS is 504 archive-timeout; neither releases anything.
 */
export class DicomArchive {
  private readonly authorization: string | undefined;
  private readonly credentials: string | undefined;
  private readonly httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 128 });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 128 });

  constructor(readonly config: DicomwebConfig) {
    if (config.credentialsFile) {
      const mode = statSync(config.credentialsFile).mode & 0o077;
      if (mode !== 0) throw new Error(`DICOMWEB_UPSTREAM_CREDENTIALS_FILE ${config.credentialsFile} is readable by group or others; chmod 600 it`);
      const credentials = readFileSync(config.credentialsFile, 'utf8').trim();
      if (!/^[^:\s]+:\S+$/.test(credentials)) throw new Error('DICOMWEB_UPSTREAM_CREDENTIALS_FILE must hold user:password');
      this.credentials = credentials;
      this.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
  }

  /** Idle keep-alive connections to the archive are closed with the process (Nest calls this on shutdown). */
  onApplicationShutdown(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** GET or POST under the DICOMweb root (`path` starts with /studies, /series or /instances). */
  dicomweb(path: string, init: { method?: string; accept?: string; body?: Buffer; contentType?: string; signal?: AbortSignal } = {}): Promise<ArchiveAnswer> {
    return this.send(`${this.config.upstream}${path}`, init);
  }

  /** Orthanc's REST API (changes feed, lookup, anonymisation). */
  rest(path: string, init: { method?: string; accept?: string; body?: Buffer | string; contentType?: string; signal?: AbortSignal } = {}): Promise<ArchiveAnswer> {
    if (!this.config.orthancUrl) throw archiveUnavailable('no ORTHANC_URL is configured');
    return this.send(`${this.config.orthancUrl}${path}`, init);
  }

  /** The archive's REST API as the de-identification calls it. */
  orthanc(): { url: string; auth: string; timeoutMs: number } {
    if (!this.config.orthancUrl) throw archiveUnavailable('no ORTHANC_URL is configured');
    return { url: this.config.orthancUrl, auth: this.credentials ?? '', timeoutMs: this.config.timeoutMs };
  }

  /** A JSON answer of the archive, read whole (searches, metadata, the feed: small and bounded). */
  async json(answer: ArchiveAnswer, maxBytes = 64 * 1024 * 1024): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of answer.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        answer.body.destroy();
        throw archiveUnavailable('the image archive answered more than Custos reads at once');
      }
      chunks.push(chunk as Buffer);
    }
    if (size === 0) return null;
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw archiveUnavailable('the image archive answered something that is not JSON');
    }
  }

  /** A DICOM JSON array (QIDO-RS, metadata); an empty answer (204) is an empty array. */
  async dicomJson(answer: ArchiveAnswer): Promise<DicomJson[]> {
    const value = await this.json(answer);
    if (value === null) return [];
    if (!isDicomJsonArray(value)) throw archiveUnavailable('the image archive answered JSON that is not the DICOM JSON model');
    return value;
  }

  private send(url: string, init: { method?: string; accept?: string; body?: Buffer | string; contentType?: string; signal?: AbortSignal }): Promise<ArchiveAnswer> {
    // node:http rather than fetch: its response is a Node stream (no web-stream bridge on the hot path), piped
    // straight on to the client with back-pressure; one keep-alive agent per archive.
    const target = new URL(url);
    const headers: Record<string, string | number> = {};
    if (this.authorization) headers.authorization = this.authorization;
    if (init.accept) headers.accept = init.accept;
    if (init.contentType) headers['content-type'] = init.contentType;
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    return new Promise<ArchiveAnswer>((resolve, reject) => {
      let answered = false;
      const req = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, { method: init.method ?? 'GET', headers, agent: target.protocol === 'https:' ? this.httpsAgent : this.httpAgent }, (res) => {
        answered = true;
        clearTimeout(timer);
        const length = res.headers['content-length'];
        const type = res.headers['content-type'];
        resolve({ status: res.statusCode ?? 0, contentType: typeof type === 'string' ? type : undefined, contentLength: typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : undefined, body: res });
      });
      // The timeout guards the wait for an answer only: a large study may take longer to stream.
      const timer = setTimeout(() => {
        req.destroy();
        reject(new ArchiveTimeoutError());
      }, this.config.timeoutMs);
      req.on('error', () => {
        clearTimeout(timer);
        if (!answered) reject(archiveUnavailable());
      });
      init.signal?.addEventListener('abort', () => req.destroy(), { once: true });
      req.end(init.body);
    });
  }
}
