import { randomUUID } from 'node:crypto';

/** Identifiers, behind a port so that tests can make them predictable. */
export abstract class Ids {
  abstract next(): string;
}

export class RandomIds extends Ids {
  next(): string {
    return randomUUID();
  }
}

/** Deterministic UUID-shaped ids for tests: 00000000-0000-4000-8000-000000000001, … */
export class SequentialIds extends Ids {
  private n = 0;
  next(): string {
    this.n += 1;
    return `00000000-0000-4000-8000-${this.n.toString(16).padStart(12, '0')}`;
  }
}
