/** Timestamps as Clarus's examples write them: ISO-8601 UTC with second precision ("2026-06-15T14:32:08Z"). */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** Date-only fields such as `expected_date_of_dispatch` ("2026-03-11"). */
export function dateOnly(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
