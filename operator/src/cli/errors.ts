/** A mistake the user can fix: printed as one line, exit status 1, no stack trace. */
export class UserError extends Error {
  override name = 'UserError';
}
