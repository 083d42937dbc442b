/**
 * The few typed errors of Custos. Each has a stable `code` (clients may switch on it) and the
 * HTTP status the edge maps it to; one exception filter turns them into RFC 9457
 * problem+json. No framework import here: deciders and libs throw these freely.
 */
export abstract class CustosError extends Error {
  abstract readonly status: number;
  abstract readonly title: string;
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: the request can never succeed as sent (400). */
export class ValidationError extends CustosError {
  readonly status = 400;
  readonly title = 'Invalid request';
  constructor(message: string, details?: Record<string, unknown>, code = 'validation-failed') {
    super(code, message, details);
  }
}

/** No valid identity (401). */
export class UnauthenticatedError extends CustosError {
  readonly status = 401;
  readonly title = 'Authentication required';
  constructor(message: string, code = 'unauthenticated') {
    super(code, message);
  }
}

/** Identity known, action not allowed (403). */
export class ForbiddenError extends CustosError {
  readonly status = 403;
  readonly title = 'Forbidden';
  constructor(message: string, details?: Record<string, unknown>, code = 'forbidden') {
    super(code, message, details);
  }
}

/** The thing asked for does not exist (404). */
export class NotFoundError extends CustosError {
  readonly status = 404;
  readonly title = 'Not found';
  constructor(message: string, details?: Record<string, unknown>, code = 'not-found') {
    super(code, message, details);
  }
}

/** Optimistic concurrency: the stream moved on since the caller read it (409). */
export class ConcurrencyError extends CustosError {
  readonly status = 409;
  readonly title = 'Conflict';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number | string,
    readonly actualVersion: number,
    code = 'concurrency-conflict',
  ) {
    super(code, `stream ${streamId} is at version ${actualVersion}, expected ${expectedVersion}`, {
      streamId,
      expectedVersion,
      currentVersion: actualVersion,
    });
  }
}

/** A resource that already exists cannot be created again (409). */
export class AlreadyExistsError extends CustosError {
  readonly status = 409;
  readonly title = 'Conflict';
  constructor(message: string, details?: Record<string, unknown>, code = 'already-exists') {
    super(code, message, details);
  }
}

/**
 * A dependency Custos cannot work without (the event store) is unreachable (503). The edge
 * fails closed on it: nothing is granted that was not recorded.
 */
export class UnavailableError extends CustosError {
  readonly status = 503;
  readonly title = 'Service unavailable';
  constructor(message: string, code = 'unavailable') {
    super(code, message);
  }
}

/** Well-formed, but Custos will not do it (422): e.g. a consent for a purpose patients cannot restrict here. */
export class UnprocessableError extends CustosError {
  readonly status = 422;
  readonly title = 'Unprocessable request';
  constructor(message: string, details?: Record<string, unknown>, code = 'unprocessable') {
    super(code, message, details);
  }
}

/** The request conflicts with the resource's current state (409): e.g. erasure under a legal hold. */
export class ConflictError extends CustosError {
  readonly status = 409;
  readonly title = 'Conflict';
  constructor(message: string, details?: Record<string, unknown>, code = 'conflict') {
    super(code, message, details);
  }
}

/** A conditional write without its condition (428): the client must say which version it edits (If-Match). */
export class PreconditionRequiredError extends CustosError {
  readonly status = 428;
  readonly title = 'Precondition required';
  constructor(message: string, details?: Record<string, unknown>, code = 'if-match-required') {
    super(code, message, details);
  }
}

/** The version the client edits is not the current one (412); `details.currentVersion` says which is. */
export class PreconditionFailedError extends CustosError {
  readonly status = 412;
  readonly title = 'Precondition failed';
  constructor(message: string, details?: Record<string, unknown>, code = 'stale-version') {
    super(code, message, details);
  }
}
