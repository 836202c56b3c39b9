/**
 * The IstioOperator asks for something the renderer cannot or must not produce. `field` is the path of the
 * offending field inside the resource (for example `spec.revision` or `values.cni.cniBinDir`), so the controller
 * can put it in status and in a Warning Event without parsing the message. Never retried: only a new spec helps.
 */
export class InvalidSpecError extends Error {
  override readonly name = 'InvalidSpecError';

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export function isInvalidSpecError(err: unknown): err is InvalidSpecError {
  return err instanceof InvalidSpecError;
}
