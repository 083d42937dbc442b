import type { Decider } from '@custos/decider';
import { canonicalJson, type Json } from '@custos/event-store';
import { AlreadyExistsError } from '@custos/errors';
import { inclusionProof, leafHash, rootOf } from '@custos/merkle';
import type { DatasetSnapshotted, DatasetSnapshottedData, SnapshotEntry } from './domain/annotation.events.js';

/** The Merkle leaf input of an entry: its canonical JSON (RFC 8785 style, as the event store hashes). */
export function entryBytes(entry: SnapshotEntry): Buffer {
  return Buffer.from(canonicalJson({ annotationId: entry.annotationId, version: entry.version, imageId: entry.imageId, label: entry.label } as unknown as Json), 'utf8');
}

export function sortEntries(entries: readonly SnapshotEntry[]): SnapshotEntry[] {
  return [...entries].sort((a, b) => (a.annotationId < b.annotationId ? -1 : a.annotationId > b.annotationId ? 1 : 0));
}

export function manifestRoot(entries: readonly SnapshotEntry[]): string {
  return rootOf(entries.map((e) => leafHash(entryBytes(e)))).toString('hex');
}

export function entryProof(entries: readonly SnapshotEntry[], index: number): Buffer[] {
  return inclusionProof(index, entries.map((e) => leafHash(entryBytes(e))));
}

export type TakeSnapshot = { readonly type: 'TakeSnapshot'; readonly manifest: Omit<DatasetSnapshottedData, 'treeSize' | 'rootHash' | 'labelCounts' | 'entries'> & { readonly entries: readonly SnapshotEntry[] } };

/** A snapshot is taken once; its digest is computed here, from the sorted entries. */
export const snapshotDecider: Decider<{ taken: boolean }, TakeSnapshot, DatasetSnapshotted> = {
  initialState: { taken: false },
  evolve: () => ({ taken: true }),
  decide(command, state) {
    if (state.taken) throw new AlreadyExistsError('this snapshot exists', undefined, 'snapshot-exists');
    const entries = sortEntries(command.manifest.entries);
    const labelCounts: Record<string, number> = {};
    for (const e of entries) labelCounts[e.label] = (labelCounts[e.label] ?? 0) + 1;
    return [{ type: 'DatasetSnapshotted', data: { ...command.manifest, entries, labelCounts, treeSize: entries.length, rootHash: manifestRoot(entries) } }];
  },
};
