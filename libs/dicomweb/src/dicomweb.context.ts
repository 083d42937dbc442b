import type { CustosContext } from '@custos/kernel';
import { ArchiveFeed } from './archive-feed.js';
import { DicomArchive } from './archive.js';
import { Deidentifier } from './deidentifier.js';
import { DicomwebGateway } from './dicomweb.service.js';
import { DicomwebFeed1764000019400 } from './migrations/1764000019400-dicomweb-feed.js';

/**
 * Custos in front of a DICOMweb archive (Orthanc): searches, retrieves and stores decided and
 * recorded, de-identified per purpose, instances registered from the archive's feed. Without
 * DICOMWEB_UPSTREAM the archive is absent and the routes answer 503 no-archive.
 */
export const dicomwebContext: CustosContext = {
  name: 'dicomweb',
  migrations: [DicomwebFeed1764000019400],
  gatewayProviders: (config) => [
    { provide: DicomArchive, useFactory: () => (config.dicomweb ? new DicomArchive(config.dicomweb) : null) },
    ...(config.dicomweb?.orthancUrl ? [Deidentifier] : []),
    DicomwebGateway,
    ArchiveFeed,
  ],
};
