/** A problem with what the user asked for (a missing file, a bad flag value): printed as one line, exit status 1. */
export class UserError extends Error {}
