// dcmjs (0.52) ships no type declarations. This is the small part of its API the project
// uses, typed loosely on purpose: a DICOM dataset is an open record keyed by tag or keyword
// whose values depend on the VR, so `unknown` it is, and callers check what they read.
// One shared declaration for the whole repository (tsconfig includes types/): a second
// `declare module 'dcmjs'` elsewhere would clash with this one, extend this file instead.
declare module 'dcmjs' {
  /** The DICOM JSON model (PS3.18 F.2): tag (8 hex digits) → { vr, Value?, InlineBinary?, BulkDataURI? }. */
  export type DicomJsonDataset = Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }>;
  /** A "naturalized" dataset: keyword → value (PatientID: 'MRN1', PixelData: [ArrayBuffer], _vrMap, _meta). */
  export type NaturalDataset = Record<string, unknown>;

  export interface WriteOptions {
    allowInvalidVRLength?: boolean;
    fragmentMultiframe?: boolean;
  }

  export interface ReadOptions {
    ignoreErrors?: boolean;
    untilTag?: string;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }

  export namespace data {
    class DicomDict {
      constructor(meta: DicomJsonDataset);
      meta: DicomJsonDataset;
      dict: DicomJsonDataset;
      /** The Part-10 file (preamble, DICM, file meta, dataset). */
      write(options?: WriteOptions): ArrayBuffer;
    }
    class DicomMessage {
      /** Parses a Part-10 file; `.meta` holds group 0002, `.dict` the dataset in the DICOM JSON model. */
      static readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict;
    }
    class DicomMetaDictionary {
      static naturalizeDataset(dataset: DicomJsonDataset): NaturalDataset;
      static denaturalizeDataset(dataset: NaturalDataset): DicomJsonDataset;
      /** A fresh 2.25.<decimal> UID. */
      static uid(): string;
      static punctuateTag(rawTag: string): string;
      static unpunctuateTag(tag: string): string;
      static dictionary: Record<string, { tag: string; vr: string; name: string; vm: string; version: string }>;
      static nameMap: Record<string, { tag: string; vr: string; name: string; vm: string; version: string }>;
    }
  }

  const dcmjs: { data: typeof data };
  export default dcmjs;
}
