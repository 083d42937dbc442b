import { ValidationError } from '@custos/errors';

/**
 * Newest-first lists paged on a (timestamp, id) key, as the incident and finding lists are:
 * the WHERE clauses with their numbered parameters, the cursor this service hands out
 * (base64url of `[iso timestamp, id]`), and the cursor of the next page.
 */
export class KeysetQuery {
  readonly where: string[] = [];
  readonly args: unknown[] = [];

  /** A condition whose `$?` is the next parameter, bound to `value`. */
  add(clause: string, value: unknown): void {
    this.args.push(value);
    this.where.push(clause.replaceAll('$?', `$${this.args.length}`));
  }

  /** Rows after `cursor` in (at, id) descending order; a cursor this service did not give is 400 `bad-cursor`. */
  after(cursor: string | undefined, atColumn: string, idColumn: string, details?: Record<string, unknown>): void {
    if (!cursor) return;
    let at: string;
    let id: string;
    try {
      [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
      if (typeof at !== 'string' || typeof id !== 'string' || Number.isNaN(Date.parse(at))) throw new Error();
    } catch {
      throw new ValidationError('cursor is not one this service gave', details, 'bad-cursor');
    }
    this.args.push(at, id);
    this.where.push(`(${atColumn}, ${idColumn}) < ($${this.args.length - 1}::timestamptz, $${this.args.length})`);
  }

  get filter(): string {
    return this.where.length ? `WHERE ${this.where.join(' AND ')}` : '';
  }

  /** The LIMIT parameter (one row more than the page, to know whether another follows). */
  limit(pageSize: number): string {
    this.args.push(pageSize + 1);
    return `$${this.args.length}`;
  }
}

/** The cursor of the page after `items`, when `rows` held one row more than the page. */
export function nextCursor<T>(rows: readonly unknown[], pageSize: number, items: readonly T[], key: (last: T) => [string, string]): string | null {
  const last = items[items.length - 1];
  return rows.length > pageSize && last ? Buffer.from(JSON.stringify(key(last))).toString('base64url') : null;
}
