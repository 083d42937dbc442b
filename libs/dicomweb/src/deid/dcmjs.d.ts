// dcmjs 0.52 ships JavaScript only, no type declarations (and no @types/dcmjs exists that
// matches it). Declared here: only the few members the de-identification code and its tests
// use, loosely typed (the DICOM JSON model is open-ended: any tag, VR-dependent values), so
// that a dcmjs upgrade that changes them fails the tests rather than pretending type safety.
declare module 'dcmjs' {
  /** One element of dcmjs's dictionary: the DICOM JSON model (PS3.18 F.2) plus dcmjs's own `_rawValue`. */
  export interface DcmjsElement {
    vr: string;
    Value?: unknown[];
    InlineBinary?: string;
    BulkDataURI?: string;
    _rawValue?: unknown;
  }
  export type DcmjsDataset = Record<string, DcmjsElement>;

  export class DicomDict {
    constructor(meta: DcmjsDataset);
    meta: DcmjsDataset;
    dict: DcmjsDataset;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  export class DicomMessage {
    static readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDict;
  }
  export const DicomMetaDictionary: {
    naturalizeDataset(dataset: DcmjsDataset): Record<string, unknown>;
    denaturalizeDataset(dataset: Record<string, unknown>): DcmjsDataset;
    uid(): string;
  };

  const dcmjs: {
    data: {
      DicomDict: typeof DicomDict;
      DicomMessage: typeof DicomMessage;
      DicomMetaDictionary: typeof DicomMetaDictionary;
    };
  };
  export default dcmjs;
}
