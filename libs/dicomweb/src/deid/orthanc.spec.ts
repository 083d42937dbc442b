/**
 * Faults of the archive that a real Orthanc cannot be made to show on demand: a peer that
 * accepts the connection and never answers, and one that answers 500. These are bare sockets,
 * not a fake Orthanc (what Orthanc answers is tested against Orthanc in deid.int-spec.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { anonymizeInstance, ArchiveTimeoutError, ArchiveUnavailableError } from './orthanc.js';

const ids = { patientId: 'MRN1', datasetId: 'ds-1', studyUid: '1.2.3', seriesUid: '1.2.3.4', sopInstanceUid: '1.2.3.4.5' };
const key = randomBytes(32);

async function peer(onData: (socket: Socket) => void): Promise<{ server: Server; url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => onData(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

async function close(p: { server: Server; sockets: Socket[] }): Promise<void> {
  for (const s of p.sockets) s.destroy();
  await new Promise((done) => p.server.close(done));
}

describe('anonymizeInstance when the archive misbehaves', () => {
  it('throws ArchiveTimeoutError (504) when the archive does not answer in time', async () => {
    const p = await peer(() => undefined);
    try {
      const err = await anonymizeInstance({ url: p.url, auth: 'u:p', timeoutMs: 200 }, ids, key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArchiveTimeoutError);
      expect(err).toMatchObject({ status: 504, code: 'archive-timeout' });
    } finally {
      await close(p);
    }
  });

  it('throws ArchiveUnavailableError (503) when the archive fails, with no DICOM value in the message', async () => {
    const p = await peer((socket) => socket.end('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{"Message":"MRN1"} '));
    try {
      const err = await anonymizeInstance({ url: p.url, auth: 'u:p' }, ids, key).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArchiveUnavailableError);
      expect(err).toMatchObject({ status: 503, code: 'archive-unavailable' });
      expect((err as Error).message).not.toContain('MRN1');
    } finally {
      await close(p);
    }
  });

  it('refuses a bad key before any request', async () => {
    await expect(anonymizeInstance({ url: 'http://127.0.0.1:9', auth: 'u:p' }, ids, randomBytes(8))).rejects.toThrow('32 raw bytes');
  });
});
