import dcmjs from 'dcmjs';
import type { DicomJson } from './dicom-json.js';

/**
 * The header of a DICOM Part-10 file (PS3.10 7.1: 128-byte preamble, "DICM", file meta, then the
 * dataset), read with dcmjs up to the pixel data; null when the bytes are not such a file or do
 * not parse. What STOW-RS registers is read from here, before anything is stored.
 */
export function readPart10Header(bytes: Buffer): DicomJson | null {
  if (bytes.length < 132 || bytes.toString('latin1', 128, 132) !== 'DICM') return null;
  try {
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const dict = dcmjs.data.DicomMessage.readFile(copy, { untilTag: '7FE00010', includeUntilTagValue: false });
    return dict.dict as DicomJson;
  } catch {
    return null;
  }
}
