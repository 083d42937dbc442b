import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { Database } from '@custos/event-store';
import { LOGGER } from '@custos/kernel';
import type { Logger } from 'pino';
import { DicomArchive } from './archive.js';
import type { DicomJson } from './dicom-json.js';
import { DicomwebGateway } from './dicomweb.service.js';

interface OrthancChanges {
  Changes: Array<{ ChangeType: string; ID: string; ResourceType: string; Seq: number }>;
  Done: boolean;
  Last: number;
}

/**
 * Instances that reach the archive without Custos (a modality's C-STORE, the archive's own
 * upload) are registered from the archive's changes feed (Orthanc's `/changes`), within a poll
 * (DICOMWEB_FEED_POLL_MS). The position read is kept in custos_dicomweb_feed, moved only after
 * the instances before it are registered; registration is idempotent, so a restart or a second
 * gateway reading the same feed registers each instance once.
 */
@Injectable()
export class ArchiveFeed implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    @Optional() @Inject(DicomArchive) private readonly archive: DicomArchive | null,
    @Inject(DicomwebGateway) private readonly gateway: DicomwebGateway,
    @Inject(Database) private readonly db: Database,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.archive?.config.feedPollMs ?? 0;
    if (!this.archive?.config.orthancUrl || every === 0) return;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.poll().then(() => undefined).catch((e: unknown) => this.logger.warn({ err: { message: (e as Error).message } }, 'dicomweb: the archive\'s changes feed could not be read; trying again')).finally(() => (this.running = undefined));
    }, every);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Read the feed to its end; returns how many instances were newly registered. Public for tests. */
  async poll(): Promise<number> {
    const archive = this.archive;
    if (!archive) return 0;
    const name = archive.config.orthancUrl ?? archive.config.upstream;
    const [row] = await this.db.query<{ position: string }>('SELECT position FROM custos_dicomweb_feed WHERE archive = $1', [name]);
    let since = row ? Number(row.position) : 0;
    let registered = 0;
    for (;;) {
      const answer = await archive.rest(`/changes?since=${since}&limit=200`, { accept: 'application/json' });
      if (answer.status !== 200) {
        answer.body.resume();
        throw new Error(`the archive's changes feed answered ${answer.status}`);
      }
      const changes = (await archive.json(answer)) as OrthancChanges;
      if (!changes || !Array.isArray(changes.Changes) || typeof changes.Last !== 'number') throw new Error('the archive\'s changes feed answered something unexpected');
      for (const change of changes.Changes) {
        if (change.ChangeType !== 'NewInstance' || !/^[0-9a-f-]{1,100}$/.test(change.ID)) continue;
        const tags = await archive.rest(`/instances/${change.ID}/tags?short`, { accept: 'application/json' });
        if (tags.status === 404) {
          tags.body.resume();
          continue; // deleted since: nothing to register
        }
        if (tags.status !== 200) {
          tags.body.resume();
          throw new Error(`the archive answered ${tags.status} for an instance's tags`);
        }
        const item = dicomJsonOfShortTags(await archive.json(tags));
        if (await this.gateway.register(item, archive.config.defaultDataset, 'archive-feed')) registered += 1;
      }
      if (changes.Last > since) {
        since = changes.Last;
        await this.db.execute(
          `INSERT INTO custos_dicomweb_feed (archive, position) VALUES ($1, $2)
           ON CONFLICT (archive) DO UPDATE SET position = GREATEST(custos_dicomweb_feed.position, EXCLUDED.position), updated_at = now()`,
          [name, since],
        );
      }
      if (changes.Done || changes.Changes.length === 0) return registered;
    }
  }
}

/** Orthanc's `?short` tags (`{"0010,0020": "MRN"}`) in the DICOM JSON model, strings only (what registration reads). */
export function dicomJsonOfShortTags(value: unknown): DicomJson {
  const out: DicomJson = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return out;
  for (const [tag, v] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[0-9a-fA-F]{4},[0-9a-fA-F]{4}$/.test(tag) || typeof v !== 'string') continue;
    out[tag.replace(',', '').toUpperCase()] = { vr: 'UN', Value: [v] };
  }
  return out;
}
