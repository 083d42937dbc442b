/**
 * The DICOM JSON model (PS3.18 F.2) of a Part-10 file, as WADO-RS `metadata` answers it: read
 * with dcmjs, whose dictionary is already that model but for binaries (ArrayBuffers), empty
 * values and its own `_rawValue`. Pixel data and large binaries are not inlined: they become a
 * BulkDataURI when the caller gives one, else they are left out.
 */
import dcmjs, { type DicomJsonDataset } from 'dcmjs';
import type { DicomJsonElement, DicomJsonObject } from './dicom-json.js';

const { DicomMessage } = dcmjs.data;

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
/** Binaries up to this size are inlined (base64); larger ones, and pixel data always, are bulk data. */
export const INLINE_BINARY_MAX_BYTES = 1024;
const BULK_ALWAYS = new Set(['7FE00010', '7FE00008', '7FE00009']); // Pixel Data, Float and Double Float Pixel Data

/** Where a bulk-data element is: its tag and, when inside sequences, the path to it ([seqTag, itemIndex, ...]). */
export type BulkDataUri = (tag: string, path: readonly (string | number)[]) => string;

function binaryBytes(values: unknown[]): Uint8Array[] {
  return values.flatMap((v) => (v instanceof ArrayBuffer ? [new Uint8Array(v)] : ArrayBuffer.isView(v) ? [new Uint8Array(v.buffer, v.byteOffset, v.byteLength)] : []));
}

function convert(dataset: DicomJsonDataset, bulkDataUri: BulkDataUri | undefined, path: (string | number)[]): DicomJsonObject {
  const out: DicomJsonObject = {};
  for (const [rawTag, element] of Object.entries(dataset)) {
    const tag = rawTag.toUpperCase();
    if (tag.endsWith('0000') || tag.startsWith('0002')) continue; // group lengths; the meta header is not metadata
    const vr = element.vr;
    const values = element.Value ?? [];
    if (BINARY_VRS.has(vr)) {
      const parts = binaryBytes(values);
      const size = parts.reduce((n, p) => n + p.byteLength, 0);
      if (BULK_ALWAYS.has(tag) || size > INLINE_BINARY_MAX_BYTES) {
        if (bulkDataUri) out[tag] = { vr, BulkDataURI: bulkDataUri(tag, path) };
        continue;
      }
      out[tag] = size === 0 ? { vr } : { vr, InlineBinary: Buffer.concat(parts).toString('base64') };
      continue;
    }
    if (vr === 'SQ') {
      out[tag] = { vr, Value: values.map((item, i) => convert(item as DicomJsonDataset, bulkDataUri, [...path, tag, i])) };
      if (values.length === 0) delete out[tag].Value;
      continue;
    }
    const converted: DicomJsonElement = { vr };
    const cleaned = values.map((v) => (v === '' || v === undefined ? null : v));
    if (cleaned.some((v) => v !== null)) converted.Value = cleaned;
    out[tag] = converted;
  }
  return out;
}

/** The DICOM JSON object of a Part-10 file (data set only, no meta header), tags in ascending order. */
export function metadataOfPart10(bytes: Uint8Array, bulkDataUri?: BulkDataUri): DicomJsonObject {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const file = DicomMessage.readFile(buffer);
  const out = convert(file.dict, bulkDataUri, []);
  return Object.fromEntries(Object.entries(out).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}
