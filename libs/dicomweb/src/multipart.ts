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
 * Counts the occurrences of `needle` in a stream of chunks without copying them: each chunk is
 * searched where it lies, and only the few bytes around a chunk border are joined to find a
 * needle split across two chunks.
 */
export class NeedleCounter {
  count = 0;
  private tail: Buffer = Buffer.alloc(0);

  constructor(private readonly needle: Buffer) {}

  push(chunk: Buffer): void {
    const n = this.needle.length;
    if (this.tail.length > 0) {
      // Across the border: the previous chunk's last n-1 bytes and this chunk's first n-1.
      const seam = Buffer.concat([this.tail, chunk.subarray(0, n - 1)]);
      for (let at = seam.indexOf(this.needle); at >= 0 && at < this.tail.length; at = seam.indexOf(this.needle, at + 1)) this.count += 1;
    }
    for (let at = chunk.indexOf(this.needle); at >= 0; at = chunk.indexOf(this.needle, at + n)) this.count += 1;
    this.tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - (n - 1))));
  }
}

/**
 * Counts what passes through it: bytes, and the parts of a multipart answer (each delimiter
 * `--boundary`, found even when split across chunks; the closing one is not a part).
 */
export class TransferCounter extends Transform {
  bytes = 0;
  private readonly delimiters: NeedleCounter | null;

  constructor(boundary: string | undefined) {
    super();
    this.delimiters = boundary ? new NeedleCounter(Buffer.from(`--${boundary}`)) : null;
  }

  get parts(): number {
    return this.delimiters ? Math.max(0, this.delimiters.count - 1) : this.bytes > 0 ? 1 : 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.delimiters?.push(chunk);
    done(null, chunk);
  }
}

/**
 * Counts what a stream carries (bytes, and the parts of a multipart answer) by listening to it,
 * not by standing in its path: the stream is piped on as it is, with its own back-pressure.
 */
export function tally(stream: NodeJS.ReadableStream, boundary: string | undefined): { readonly bytes: number; readonly parts: number } {
  const delimiters = boundary ? new NeedleCounter(Buffer.from(`--${boundary}`)) : null;
  let bytes = 0;
  stream.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    delimiters?.push(chunk);
  });
  // A 'data' listener would start the flow at once: held until the stream is piped to the client.
  stream.pause();
  return {
    get bytes() {
      return bytes;
    },
    get parts() {
      return delimiters ? Math.max(0, delimiters.count - 1) : bytes > 0 ? 1 : 0;
    },
  };
}

/**
 * Replaces one text by another in a stream (the archive's address in part headers and metadata,
 * where Custos must name itself instead), across chunk borders, holding back at most the length
 * of the text.
 */
export class ReplaceTransform extends Transform {
  private held: Buffer = Buffer.alloc(0);

  constructor(
    private readonly search: Buffer,
    private readonly replacement: Buffer,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const out: Buffer[] = [];
    let from = 0;
    for (let at = data.indexOf(this.search); at >= 0; at = data.indexOf(this.search, from)) {
      out.push(data.subarray(from, at), this.replacement);
      from = at + this.search.length;
    }
    // Keep back what could be the start of a match split across chunks.
    const keep = Math.min(this.search.length - 1, data.length - from);
    out.push(data.subarray(from, data.length - keep));
    this.held = Buffer.from(data.subarray(data.length - keep));
    done(null, Buffer.concat(out));
  }

  override _flush(done: TransformCallback): void {
    done(null, this.held);
  }
}
