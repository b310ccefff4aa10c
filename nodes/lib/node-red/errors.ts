export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A configuration the node cannot run with; shown in the status and logged at deploy. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Something the user has not filled in yet (no connection, no credentials): the node waits, grey, with a
 * warning, rather than failing red, so an imported example deploys cleanly before it is configured.
 */
export class NotConfiguredError extends ConfigError {
  override name = "NotConfiguredError";
}
