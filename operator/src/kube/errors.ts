/**
 * Errors from the API server, classified by type (status code and reason), never by message text.
 */
export type ErrorClass = 'invalid' | 'notFound' | 'conflict' | 'transient' | 'forbidden' | 'bug';

export interface StatusDetails {
  causes?: { field?: string; message?: string; reason?: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** An error the user must fix in their resource: retrying will not help until the spec changes. */
export class InvalidInputError extends Error {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'InvalidInputError';
  }
}

/** A write refused before it was sent because this process does not lead (see KubeClient.writeGuard). */
export class FencedError extends Error {
  override name = 'FencedError';
  readonly code = 'EFENCED';
}

const transientCodes = new Set([408, 425, 429, 500, 502, 503, 504]);
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'EFENCED']);

export function classify(err: unknown): ErrorClass {
  if (err instanceof InvalidInputError) return 'invalid';
  if (err instanceof ApiError) {
    if (err.statusCode === 404) return 'notFound';
    if (err.statusCode === 409) return 'conflict';
    if (err.statusCode === 403 || err.statusCode === 401) return 'forbidden';
    if (err.statusCode === 400 || err.statusCode === 422) return 'invalid';
    if (transientCodes.has(err.statusCode)) return 'transient';
    return 'bug';
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && networkCodes.has(code)) return 'transient';
  if ((err as { name?: unknown } | null)?.name === 'AbortError') return 'transient';
  return 'bug';
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.statusCode === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.statusCode === 409;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
