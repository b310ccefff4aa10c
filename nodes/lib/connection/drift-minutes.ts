/** How often webhook-in nodes read their registered automations back for drift, unless set (`driftMinutes`). */
export const DEFAULT_DRIFT_MINUTES = 15;
/** Below it a check would hardly end before the next; decimals this small are for tests. */
export const MIN_DRIFT_MINUTES = 0.01;
/** A day: longer periods would outgrow a timer, and leave a silent webhook silent for too long. */
export const MAX_DRIFT_MINUTES = 1440;

/**
 * The connection's `driftMinutes` in ms; 0 turns the checks off. A flow without it (every 0.1 flow) gets the
 * default; a value the editor would refuse is warned about and replaced by the default, so the connection
 * still starts and its automations are still watched.
 */
export function driftPeriodMs(value: unknown, warn: (message: string) => void): number {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) {
    return DEFAULT_DRIFT_MINUTES * 60_000;
  }
  const minutes = typeof value === "number" || typeof value === "string" ? Number(value) : NaN;
  if (minutes === 0) return 0;
  if (Number.isFinite(minutes) && minutes >= MIN_DRIFT_MINUTES && minutes <= MAX_DRIFT_MINUTES) {
    return Math.round(minutes * 60_000);
  }
  warn(
    `driftMinutes ${JSON.stringify(value)} must be 0 (off) or a number of minutes from ${MIN_DRIFT_MINUTES} to ${MAX_DRIFT_MINUTES}; ${DEFAULT_DRIFT_MINUTES} is used`,
  );
  return DEFAULT_DRIFT_MINUTES * 60_000;
}
