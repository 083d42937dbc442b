import { Transform, type TransformCallback } from 'node:stream';
import { CustosError, ValidationError } from '@custos/errors';

/** A body Custos does not take at this route (415). */
export class UnsupportedMediaError extends CustosError {
  readonly status = 415;
  readonly title = 'Unsupported Media Type';
  constructor(message: string) {
    super('unsupported-media-type', message);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The parameters of a media type (RFC 9110 §8.3.1), names lowercased, quoted values unquoted. */
export function mediaTypeOf(header: string | undefined): { type: string; params: Record<string, string> } | null {
  if (!header) return null;
  const [head, ...rest] = header.split(';');
  const type = (head ?? '').trim().toLowerCase();
  const params: Record<string, string> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name && !Object.hasOwn(params, name)) params[name] = value;
  }
  return { type, params };
}

/** The boundary of a STOW-RS body: multipart/related with type application/dicom (PS3.18 10.5.1.1). */
export function stowBoundary(contentType: string | undefined): string {
  const media = mediaTypeOf(contentType);
  if (!media || media.type !== 'multipart/related') throw new UnsupportedMediaError('STOW-RS takes multipart/related; type="application/dicom"');
  const type = media.params.type?.toLowerCase();
  if (type !== undefined && type !== 'application/dicom') throw new UnsupportedMediaError(`STOW-RS here takes application/dicom parts only (got type=${JSON.stringify(type.slice(0, 100))})`);
  const boundary = media.params.boundary;
  if (!boundary || boundary.length > 70 || !/^[0-9A-Za-z'()+_,./:=? -]*[0-9A-Za-z'()+_,./:=?-]$/.test(boundary)) throw new ValidationError('the multipart boundary is missing or malformed (RFC 2046 §5.1.1)', { field: 'content-type' }, 'bad-multipart');
  return boundary;
}

export interface Part {
  readonly contentType: string | undefined;
  readonly body: Buffer;
}

/**
 * The parts of a multipart body (RFC 2046): between `--boundary` delimiters, each with its
 * headers, up to the closing `--boundary--`. Anything that is not so framed is refused whole
 * (400 bad-multipart): nothing of a malformed request is stored.
 */
export function splitParts(body: Buffer, boundary: string, maxParts: number): Part[] {
  const bad = (why: string) => new ValidationError(`malformed multipart body: ${why}`, { field: 'body' }, 'bad-multipart');
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  if (at < 0) throw bad('no boundary delimiter');
  const parts: Part[] = [];
  for (;;) {
    at += delimiter.length;
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts; // the closing delimiter
    // Transport padding (spaces, tabs) may follow a delimiter, then CRLF.
    while (body[at] === 0x20 || body[at] === 0x09) at += 1;
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a) throw bad('a delimiter is not followed by CRLF');
    at += 2;
    const headersEnd = body.indexOf('\r\n\r\n', at - 2);
    if (headersEnd < 0) throw bad('a part has no end of headers');
    const headerText = headersEnd >= at ? body.subarray(at, headersEnd).toString('latin1') : '';
    let contentType: string | undefined;
    for (const line of headerText.split('\r\n')) {
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw bad('a part header is not a header');
      if (line.slice(0, colon).toLowerCase() === 'content-type') contentType = line.slice(colon + 1).trim();
    }
    const start = headersEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), start - 2);
    if (next < 0) throw bad('the body ends without a closing delimiter');
    parts.push({ contentType, body: body.subarray(start, Math.max(start, next)) });
    if (parts.length > maxParts) throw new ValidationError(`a STOW-RS request takes at most ${maxParts} instances`, { field: 'body' }, 'too-many-parts');
    at = next + 2;
  }
}

/**
 * Counts what passes through it: bytes, and the parts of a multipart answer (each delimiter
 * `--boundary`, found even when split across chunks; the closing one is not a part).
 */
export class TransferCounter extends Transform {
  bytes = 0;
  private delimiters = 0;
  private tail = Buffer.alloc(0);
  private readonly delimiter: Buffer | null;

  constructor(boundary: string | undefined) {
    super();
    this.delimiter = boundary ? Buffer.from(`--${boundary}`) : null;
  }

  get parts(): number {
    return this.delimiter ? Math.max(0, this.delimiters - 1) : this.bytes > 0 ? 1 : 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.delimiter) {
      const window = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
      let from = 0;
      for (;;) {
        const found = window.indexOf(this.delimiter, from);
        if (found < 0) break;
        this.delimiters += 1;
        from = found + this.delimiter.length;
      }
      const keep = Math.min(this.delimiter.length - 1, window.length - from);
      this.tail = Buffer.from(window.subarray(window.length - keep));
    }
    done(null, chunk);
  }
}
