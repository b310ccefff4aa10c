export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A configuration the node cannot run with; shown in the status and logged at deploy. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
