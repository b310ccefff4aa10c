/**
 * Timestamps read as the instants they name. Clarus writes one instant several ways: with the tenant's
 * offset (`2024-07-17T14:30:16.787+01:00`), in UTC (`2024-07-17T13:30:16.787Z`), with more or fewer
 * fraction digits (`.787000Z`, `.000Z`, none). As text these differ and sort wrongly, so anything that
 * compares, sorts or keys on a timestamp goes through here.
 */

const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

interface ParsedInstant {
  ms: number;
  /** Fraction digits past the millisecond, trailing zeros dropped: kept, so microseconds still tell apart. */
  subMs: string;
}

/**
 * An ISO 8601 date-time. Without an offset it is read as UTC: a server's timestamp, which this machine's
 * zone has nothing to do with (`Date.parse` would read it as local time).
 */
function parseIsoDateTime(text: string): ParsedInstant | undefined {
  const match = ISO_DATE_TIME.exec(text.trim());
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second = "0", fraction = "", offset = "Z"] = match;
  const digits = fraction.padEnd(3, "0");
  const parts = [year, month, day, hour, minute, second].map(Number);
  const [y, mo, d, h, mi, s] = parts as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59) return undefined;
  const local = Date.UTC(y, mo - 1, d, h, mi, s, Number(digits.slice(0, 3)));
  // Date.UTC rolls 2024-02-30 over into March: such a date is not one.
  if (new Date(local).getUTCDate() !== d) return undefined;
  return { ms: local - offsetMinutes(offset) * 60_000, subMs: digits.slice(3).replace(/0+$/, "") };
}

function offsetMinutes(offset: string): number {
  if (offset === "Z" || offset === "z") return 0;
  const sign = offset.startsWith("-") ? -1 : 1;
  const digits = offset.slice(1).replace(":", "");
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0"));
}

/** Epoch milliseconds of a timestamp (ISO 8601, else what `Date.parse` reads); undefined when it is none. */
export function instantMs(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const iso = parseIsoDateTime(value);
  if (iso) return iso.ms;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The one spelling of a timestamp's instant: UTC, at least millisecond digits, more only when they say
 * something (`2024-07-17T13:30:16.787Z`, `…16.000Z`, `…16.787123Z`); undefined when it is no timestamp.
 */
export function canonicalInstant(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const iso = parseIsoDateTime(value);
  if (iso) return canonical(iso.ms, iso.subMs);
  const ms = instantMs(value);
  return ms === undefined ? undefined : canonical(ms, "");
}

/** Only an ISO 8601 date-time in its one spelling; anything else undefined (a version that is not a time). */
export function canonicalIsoInstant(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const iso = parseIsoDateTime(value);
  return iso ? canonical(iso.ms, iso.subMs) : undefined;
}

function canonical(ms: number, subMs: string): string | undefined {
  const date = new Date(ms);
  // Past the range a Date holds (±275,000 years): no instant to spell.
  if (Number.isNaN(date.getTime())) return undefined;
  return date.toISOString().replace(/Z$/, `${subMs}Z`);
}
