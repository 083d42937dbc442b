import type { CommittedEvent, EventStore } from './event-store.js';

/**
 * What this process committed and a reader (the log's integrator, the embedded sentinel) has
 * not taken yet, handed over in memory by the event store (`onCommitted`), so the reader need
 * not read back what it could not have got otherwise. Bounded: past `max` events new ones are
 * dropped, and read from the database when their turn comes; events other processes append
 * are read likewise (`take` stops at a gap).
 */
export class CommitFeed {
  /** Committed groups, in commit order (a process commits one group at a time), each in sequence order. */
  private readonly groups: Array<readonly CommittedEvent[]> = [];
  /** How far into groups[0] has been taken. */
  private offset = 0;
  private held = 0;
  dropped = 0;

  // 20,000 events (a few seconds of appends, tens of MB at most): beyond that the reader is behind anyway and reads the store.
  constructor(private readonly max = 20_000) {}

  attach(store: EventStore): () => void {
    return store.onCommitted((events) => this.push(events));
  }

  push(events: readonly CommittedEvent[]): void {
    if (events.length === 0) return;
    if (this.held + events.length > this.max) {
      this.dropped += events.length;
      return;
    }
    this.groups.push(events);
    this.held += events.length;
  }

  /** The events of global sequence [from, to) held here, contiguous from `from` (possibly none); forgets what lies below `from`. */
  take(from: number, to: number): CommittedEvent[] {
    const out: CommittedEvent[] = [];
    let seq = from;
    while (seq < to && this.groups.length > 0) {
      const group = this.groups[0] as readonly CommittedEvent[];
      const first = (group[0] as CommittedEvent).event.globalSeq;
      const last = first + group.length - 1;
      if (last < seq) {
        this.shift(group.length - this.offset);
        continue;
      }
      if (first > seq) break; // a gap: events another process appended come from the store
      const at = seq - first;
      if (at > this.offset) this.held -= at - this.offset;
      const end = Math.min(group.length, at + (to - seq));
      for (let i = at; i < end; i++) out.push(group[i] as CommittedEvent);
      // (at < offset after a round that took these and then rolled back: they are still here, counted once.)
      this.held -= Math.max(0, end - Math.max(at, this.offset));
      seq += end - at;
      if (end === group.length) {
        this.groups.shift();
        this.offset = 0;
      } else this.offset = end;
    }
    return out;
  }

  private shift(remaining: number): void {
    this.groups.shift();
    this.offset = 0;
    this.held -= remaining;
  }

  /** Events held, not yet taken. */
  get size(): number {
    return this.held;
  }
}
